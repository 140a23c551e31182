# Python 3.11 from Debian (with ssl, sqlite3 and the rest of the standard
# library), as one prefix: the interpreter finds its standard library relative
# to its own real location, and Debian splits that library over three
# packages, so they are merged (./debian/merge.nix) and the interpreter is
# copied into the merged prefix (sys.prefix is then this store path).
#
# PyPI packages (wheels pinned in ./pypi-lock.json) are in `python3.pkgs`
# (./packages.nix); `python3.withPackages (ps: [ ps.flask ps.requests ])` is
# an environment with them and their dependencies (./with-packages.nix).
{ lib, system, debian, fetchPypi, unpackWheel }:
let
  version = debian.upstreamVersion debian."python3.11".version;
  pythonPackages = import ./packages.nix {
    inherit lib system debian fetchPypi unpackWheel;
    python3 = self;
  };
  self = debian.mergePackages {
    name = "python3-${version}";
    paths = [
      debian."python3.11"
      debian."python3.11-minimal"
      debian."libpython3.11-minimal"
      debian."libpython3.11-stdlib"
    ];
    postBuild = ''
      rm bin/python3.11
      cp ${debian."python3.11-minimal"}/bin/python3.11 bin/python3.11
      chmod 0555 bin/python3.11
      ln -s python3.11 bin/python3
      ln -s python3.11 bin/python
    '';
    passthru = {
      pname = "python3";
      inherit version;
      pythonVersion = "3.11";
      sitePackages = "lib/python3.11/site-packages";
      executable = "python3.11";
      pkgs = pythonPackages;
      withPackages = import ./with-packages.nix { inherit lib debian pythonPackages; python3 = self; };
    };
    meta = {
      description = "Python 3.11 interpreter with its standard library (ssl, sqlite3, ...), from Debian";
      mainProgram = "python3";
      platforms = [ "x86_64-linux" ];
    };
  };
in
self
