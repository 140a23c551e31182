# A small package set in the style of nixpkgs: packages are descriptions that
# refer to each other through a fixed point, and an overlay changes one of
# them -- every package that depends on it sees the change.
let
  inherit (builtins) attrNames concatStringsSep filter foldl' map sort;

  fix = f: let self = f self; in self;
  extend = base: overlay: final: let prev = base final; in prev // overlay final prev;

  mkPackage = { pname, version, deps ? [ ], description }: {
    inherit pname version deps description;
    name = "${pname}-${version}";
  };

  basePackages = self: {
    zlib = mkPackage { pname = "zlib"; version = "1.2.13"; description = "compression library"; };
    openssl = mkPackage {
      pname = "openssl";
      version = "3.0.11";
      deps = [ self.zlib ];
      description = "TLS toolkit";
    };
    curl = mkPackage {
      pname = "curl";
      version = "7.88.1";
      deps = [ self.openssl self.zlib ];
      description = "URL transfer tool";
    };
    hello = mkPackage { pname = "hello"; version = "2.12.1"; description = "greets the world"; };
  };

  # an overlay: a newer zlib, seen by openssl and curl too
  newerZlib = final: prev: {
    zlib = prev.zlib // { version = "1.3"; name = "zlib-1.3"; };
  };

  pkgs = fix (extend basePackages newerZlib);

  closure = pkg: [ pkg.name ] ++ builtins.concatMap closure pkg.deps;
  unique = foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];
in
rec {
  packages = map (n: pkgs.${n}.name) (sort builtins.lessThan (attrNames pkgs));
  curlClosure = unique (closure pkgs.curl);
  withDeps = filter (n: pkgs.${n}.deps != [ ]) (attrNames pkgs);
  summary = ''
    ${toString (builtins.length packages)} packages: ${concatStringsSep ", " packages}
    curl needs: ${concatStringsSep " " curlClosure}
  '';
}
