# jq, the command-line JSON processor, built from source with its library
# dependency oniguruma (also built from source, pkgs.oniguruma).
#
# The source is the upstream release tarball (it ships `configure`), with the
# security fixes of Debian's jq 1.6-2.1+deb12u2 applied: the patches of its
# source package that change jq's C code (those that change the build system
# need autoreconf and are left out).
{ lib
, stdenv
, stdenvNoCC
, fetchPypi
, oniguruma
, fetchDebianSource ? import ../build-support/fetch-debian-source.nix
}:
let
  debianVersion = "1.6-2.1+deb12u2";
  debianPatches = fetchDebianSource {
    package = "jq";
    version = debianVersion;
    file = "jq_${debianVersion}.debian.tar.xz";
    sha256 = "88498e8c917c09ddee251544b0525051551e6a0552c862625696a3e83469ae66";
  };
  # debian/patches/series, in its order, without the build-system patches
  patchNames = [
    "stack-exhaustion.patch"
    "0010-initialized-variables.patch"
    "CVE-2025-48060.patch"
    "CVE-2026-32316.patch"
    "CVE-2026-33947.patch"
    "CVE-2026-33948.patch"
    "CVE-2026-39956.patch"
    "CVE-2026-39979.patch"
    "CVE-2026-40164.patch"
    "CVE-2026-41256.patch"
    "CVE-2026-41257.patch"
    "CVE-2026-43896.patch"
    "CVE-2026-43895.patch"
    "CVE-2026-44777.patch"
    "CVE-2026-43894.patch"
    "CVE-2026-47770.patch"
    "CVE-2026-49839.patch"
    "GHSA-ggc9-rpv2-xgpm_and_GHSA-gvwx-xj9r-3frq.patch"
    "CVE-2026-54679-1.patch"
    "CVE-2026-54679-2.patch"
    "CVE-2026-54679-3.patch"
  ];
in
stdenv.mkDerivation {
  pname = "jq";
  version = "1.6";

  src = (import ./upstream-tarballs.nix { inherit fetchPypi stdenvNoCC; }).jq;

  inherit debianPatches patchNames;

  buildInputs = [ oniguruma ];

  postPatch = ''
    tar -xJf "$debianPatches" -C "$NIX_BUILD_TOP" debian/patches
    for p in $patchNames; do
      echo "applying Debian's $p"
      patch -p1 --no-backup-if-mismatch < "$NIX_BUILD_TOP/debian/patches/$p"
    done
    # Debian runs this test with dash, whose printf leaves "\x00" as it is:
    # what it checks there is that the text {}\x00{} is refused (bash's
    # printf would write a NUL byte, which jq 1.6 -- Debian's binary package
    # as well -- reads as the number 0)
    sed -i "s/^if printf '{}\\\\x00{}' |/if printf '%s' '{}\\\\x00{}' |/" tests/shtest
    grep -q "printf '%s' '{}" tests/shtest
    # configure, the test scripts and the scripts configure writes say
    # #!/bin/sh, which the sandbox does not have
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

  # what CVE-2026-40164's configure check finds in glibc 2.36 (configure.ac
  # is patched, configure is not regenerated): the hash seed from arc4random
  env.NIX_CFLAGS_COMPILE = "-DHAVE_ARC4RANDOM=1";

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
