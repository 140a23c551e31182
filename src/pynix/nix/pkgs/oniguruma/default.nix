# Oniguruma, the regular expression library of jq, built from source.
{ lib, stdenv, stdenvNoCC, fetchPypi }:
stdenv.mkDerivation {
  pname = "oniguruma";
  version = "6.9.8";

  src = (import ../jq/upstream-tarballs.nix { inherit fetchPypi stdenvNoCC; }).oniguruma;

  # configure and the scripts it writes say #!/bin/sh (not in the sandbox)
  postPatch = ''
    patchShebangs .
  '';
  preConfigure = ''
    export CONFIG_SHELL="$SHELL"
  '';
  configureFlags = [ "--disable-static" ];

  # onig-config, a shell script, goes to `dev`: users of the library need
  # no shell at run time
  outputs = [ "out" "dev" ];
  postInstall = ''
    mkdir -p "$dev/bin"
    mv "$out/bin/onig-config" "$dev/bin/"
    rmdir "$out/bin"
  '';

  doCheck = true;
  enableParallelBuilding = true;

  meta = {
    description = "Regular expressions library";
    homepage = "https://github.com/kkos/oniguruma";
    license = lib.licenses.bsd2;
    platforms = lib.platforms.linux;
  };
}
