# pkgs.gcc: Debian's gcc-12 (./sysroot.nix) behind the cc-wrapper, the C
# compiler of the stdenv bootstrapped from Debian (../stdenv/debian-bootstrap.nix).
# The wrapper compiles against the sysroot (`--sysroot`), and links programs
# for the store: the dynamic linker is libc6's in the store and the RPATH has
# libc6's library directory, so what it builds references no /usr or /lib.
{ lib, debian, wrapCC }:
let
  sysroot = import ./sysroot.nix { inherit lib debian; };
  libcDir = "${debian.libc6}/lib/x86_64-linux-gnu";
in
(wrapCC {
  name = "gcc-wrapper-${sysroot.version}";
  gcc = sysroot;
  inherit sysroot;
  ccName = "gcc-12";
  cxxName = "g++-12";
  dynamicLinker = debian.dynamicLinker;
  # as, ld and the other programs of the compiler come from the sysroot too
  extraCFlags = [ "-B${sysroot}/bin/" ];
  extraLDFlags = [ "-Wl,-rpath,${libcDir}" ];
}) // {
  inherit sysroot;
  version = sysroot.version;
}
