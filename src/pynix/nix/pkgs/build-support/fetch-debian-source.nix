# fetchDebianSource: one file of a Debian source package (e.g. its upstream
# tarball "hello_2.10.orig.tar.gz") as a fixed-output derivation.  The builtin
# builder downloads the source package with `apt-get source --download-only
# PACKAGE=VERSION` through pynix's private apt configuration (the machine's
# own mirrors) and keeps `file`; the result is checked against `sha256`.
# (`apt-cache showsrc PACKAGE` lists the files of a source package and their
# sha256 sums.)
{ package, version, file, sha256 }:
let
  safe = builtins.replaceStrings [ ":" "~" "%" "/" " " ] [ "_" "_" "_" "_" "_" ];
in
derivation {
  name = safe file;
  builder = "builtin:fetch-debian-source";
  system = "builtin";
  inherit package version file;
  outputHashMode = "flat";
  outputHashAlgo = "sha256";
  outputHash = sha256;
  preferLocalBuild = true;
}
