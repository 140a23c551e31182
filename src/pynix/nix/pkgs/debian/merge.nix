# mergePackages: one prefix holding the trees of several imported packages,
# for programs that expect one (python's stdlib is split over three Debian
# packages, PostgreSQL's binaries over two).  Directories are real, files are
# absolute symbolic links into the packages; two packages with a file at the
# same place is an error naming both.  `postBuild` runs in $out afterwards
# (bash, with coreutils on PATH), e.g. to copy a program whose location
# decides where it looks for its files.
#
# The builder is the imported Debian bash and coreutils, so this needs no
# stdenv.
{ system, bash, coreutils }:
{ name
, paths
, postBuild ? ""
, passthru ? { }
, meta ? { }
, ...
}@args:
let
  drv = derivation ((removeAttrs args [ "passthru" "meta" ]) // {
    inherit name system postBuild;
    builder = "${bash}/bin/bash";
    args = [ "-e" ./merge.sh ];
    paths = map toString paths;
    PATH = "${coreutils}/bin";
    preferLocalBuild = true;
    allowSubstitutes = false;
  });
in
drv // passthru // { inherit meta; }
