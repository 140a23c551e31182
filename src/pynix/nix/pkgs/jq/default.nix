# jq, the command-line JSON processor, built from source with its library
# dependency oniguruma (also built from source, pkgs.oniguruma).
{ lib, stdenv, stdenvNoCC, fetchPypi, oniguruma }:
stdenv.mkDerivation {
  pname = "jq";
  version = "1.6";

  src = (import ./upstream-tarballs.nix { inherit fetchPypi stdenvNoCC; }).jq;

  buildInputs = [ oniguruma ];

  # configure, the test scripts and the scripts configure writes say
  # #!/bin/sh (not in the sandbox)
  postPatch = ''
    patchShebangs .
    # as Debian does: jq uses the shared libjq (linked to the static one,
    # libjq.a would be installed too, with the compiler's paths in its
    # debugging information)
    sed -i 's/^jq_LDFLAGS = -static-libtool-libs/jq_LDFLAGS =/' Makefile.in
  '';
  preConfigure = ''
    export CONFIG_SHELL="$SHELL"
  '';
  configureFlags = [
    "--with-oniguruma=${oniguruma}"
    # the manual needs ruby and bundler; the prebuilt jq.1 is installed
    "--disable-docs"
    "--disable-valgrind"
    "--disable-maintainer-mode"
    "--disable-static"
  ];

  doCheck = true;
  enableParallelBuilding = true;

  passthru = { inherit oniguruma; };

  meta = {
    description = "A lightweight and flexible command-line JSON processor";
    homepage = "https://jqlang.github.io/jq/";
    license = lib.licenses.mit;
    mainProgram = "jq";
    platforms = lib.platforms.linux;
  };
}
