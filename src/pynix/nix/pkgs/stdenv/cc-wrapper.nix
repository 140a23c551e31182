# A C/C++ compiler wrapper: `bin/cc`, `bin/gcc`, `bin/c++`, `bin/g++` call the
# real compiler (`gcc`: a store path or a path string such as "/usr" with
# bin/gcc and bin/g++) with the C library `libc` (a path with include/ and
# lib/), an optional `sysroot`, the dynamic linker `dynamicLinker`, the
# include/lib flags of the build inputs, and an RPATH for every store -L
# directory that provides a shared library being linked.
# Binutils found next to the compiler are linked into bin/ as they are.
{ lib
, stdenvNoCC
, gcc
, libc ? null
, dynamicLinker
, sysroot ? null
, name ? "gcc-wrapper"
, ccName ? "gcc"
, cxxName ? "g++"
, extraCFlags ? [ ]
, extraLDFlags ? [ ]
, tools ? [ "ar" "as" "ld" "ld.bfd" "nm" "objcopy" "objdump" "ranlib" "readelf" "size"
            "strings" "strip" "cpp" "c++filt" "gcc-ar" "gcc-nm" "gcc-ranlib" ]
}:
let
  str = x: if x == null then "" else toString x;
in
stdenvNoCC.mkDerivation {
  inherit name;
  dontUnpack = true;
  doCheck = false;
  preferLocalBuild = true;
  allowSubstitutes = false;
  wrapper = ./cc-wrapper.sh;
  realCC = "${str gcc}/bin/${ccName}";
  realCXX = "${str gcc}/bin/${cxxName}";
  gccBin = "${str gcc}/bin";
  libc = str libc;
  sysroot = str sysroot;
  inherit dynamicLinker tools;
  extraCFlags = lib.escapeShellArgs extraCFlags;
  extraLDFlags = lib.escapeShellArgs extraLDFlags;
  shell = stdenvNoCC.shell;
  passthru = {
    isGNU = true;
    inherit gcc libc dynamicLinker sysroot;
    cc = gcc;
  };
  buildCommand = ''
    mkdir -p "$out/bin" "$out/nix-support"
    wrap() {
      substitute "$wrapper" "$out/bin/$1" \
        --subst-var shell --subst-var-by real "$2" --subst-var libc --subst-var sysroot \
        --subst-var dynamicLinker --subst-var extraCFlags --subst-var extraLDFlags
      chmod 555 "$out/bin/$1"
    }
    wrap gcc "$realCC"
    wrap g++ "$realCXX"
    ln -s gcc "$out/bin/cc"
    ln -s g++ "$out/bin/c++"
    for t in $tools; do
      if [ -e "$gccBin/$t" ] && [ ! -e "$out/bin/$t" ]; then
        ln -s "$gccBin/$t" "$out/bin/$t"
      fi
    done
    cat > "$out/nix-support/setup-hook" <<HOOK
    export CC=cc CXX=c++ NIX_CC=$out
    HOOK
    echo "$dynamicLinker" > "$out/nix-support/dynamic-linker"
  '';
  meta = {
    description = "C compiler wrapper around ${str gcc}";
  };
}
