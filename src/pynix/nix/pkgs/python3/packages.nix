# The PyPI packages of `python3.pkgs` (and `python3.withPackages`): each one
# is a wheel pinned in ./pypi-lock.json, unpacked into
# $out/lib/python3.11/site-packages.  `pythonDeps` are the package's runtime
# requirements (its Requires-Dist without extras or markers that are false on
# Linux with CPython 3.11), written here by hand.
#
# The pins are written by
#   pynix debian lock-pypi --lock src/pynix/nix/pkgs/python3/pypi-lock.json NAME==VERSION...
# (add --platform manylinux2014_x86_64 for wheels with compiled code).
{ lib, system, debian, fetchPypi, unpackWheel, python3 }:
let
  lock = (builtins.fromJSON (builtins.readFile ./pypi-lock.json)).pypi;

  libcDir = "${debian.libc6}/lib/x86_64-linux-gnu";

  # the store name of a PyPI file allows [A-Za-z0-9+._?=-]
  safe = builtins.replaceStrings [ "!" ":" "~" "%" "/" " " ] [ "_" "_" "_" "_" "_" "_" ];

  # pypiName: the name in the lock; attrs: pythonDeps, meta, ...
  buildWheel = pypiName: { pythonDeps ? [ ], importName ? pypiName, meta ? { } }:
    let
      pin = lock.${pypiName} or (throw
        "python3.pkgs: '${pypiName}' is not pinned in python3/pypi-lock.json (use `pynix debian lock-pypi`)");
      wheel = unpackWheel {
        name = safe "${pypiName}-${pin.version}-wheel";
        wheel = fetchPypi {
          pname = pypiName;
          inherit (pin) version filename sha256;
        };
      };
      drv = derivation {
        name = safe "python3.11-${pypiName}-${pin.version}";
        inherit system wheel libcDir;
        builder = "${debian.bash}/bin/bash";
        args = [ "-e" ./build-wheel.sh ];
        PATH = "${debian.coreutils}/bin";
        patchelf = debian.patchelfBin;
        sitePackages = python3.sitePackages;
        preferLocalBuild = true;
        allowSubstitutes = false;
      };
    in
    drv // {
      pname = pypiName;
      inherit (pin) version;
      inherit pythonDeps importName wheel;
      inherit (pin) filename;
      pythonModule = python3;
      meta = {
        description = "${pypiName} ${pin.version} for Python 3.11 (wheel ${pin.filename})";
        platforms = [ "x86_64-linux" ];
      } // meta;
    };

  self = {
    inherit buildWheel;

    blinker = buildWheel "blinker" { };
    click = buildWheel "click" { };
    itsdangerous = buildWheel "itsdangerous" { };
    markupsafe = buildWheel "markupsafe" { };
    jinja2 = buildWheel "jinja2" { pythonDeps = [ self.markupsafe ]; };
    werkzeug = buildWheel "werkzeug" { pythonDeps = [ self.markupsafe ]; };
    flask = buildWheel "flask" {
      pythonDeps = [ self.werkzeug self.jinja2 self.itsdangerous self.click self.blinker ];
    };

    # bundles libpq (and its OpenSSL) in psycopg2_binary.libs
    psycopg2-binary = buildWheel "psycopg2-binary" { importName = "psycopg2"; };
    psycopg2 = self.psycopg2-binary;

    certifi = buildWheel "certifi" { };
    idna = buildWheel "idna" { };
    urllib3 = buildWheel "urllib3" { };
    charset-normalizer = buildWheel "charset-normalizer" { importName = "charset_normalizer"; };
    requests = buildWheel "requests" {
      pythonDeps = [ self.charset-normalizer self.idna self.urllib3 self.certifi ];
    };
  };
in
self
