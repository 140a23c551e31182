# fetchDeb: one Debian binary package (.deb) as a fixed-output derivation.
# The builtin builder gets it with `apt-get download PACKAGE=VERSION` through
# pynix's private apt configuration (the machine's own mirrors, base suite of
# its release); the file is then checked against `sha256` like any fixed-output
# derivation.  Pins come from a lock file written by `pynix debian lock`.
{ package, version, arch ? "amd64", sha256 }:
let
  # store names allow [A-Za-z0-9+._?=-]: Debian versions may hold ':' (epochs) and '~'
  safe = builtins.replaceStrings [ ":" "~" "%" "/" " " ] [ "_" "_" "_" "_" "_" ];
in
derivation {
  name = safe "${package}-${version}.deb";
  builder = "builtin:fetch-deb";
  system = "builtin";
  inherit package version arch;
  outputHashMode = "flat";
  outputHashAlgo = "sha256";
  outputHash = sha256;
  preferLocalBuild = true;
}
