# GNU hello, built from source: the upstream tarball of Debian's source
# package, configured, built, tested (`make check`) and installed by stdenv.
{ lib
, stdenv
, fetchDebianSource ? import ../build-support/fetch-debian-source.nix
}:
stdenv.mkDerivation {
  pname = "hello";
  version = "2.10";

  src = fetchDebianSource {
    package = "hello";
    version = "2.10-3";
    file = "hello_2.10.orig.tar.gz";
    sha256 = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";
  };

  # the configure script, its tests and the scripts it writes say #!/bin/sh,
  # which the build sandbox does not have
  postPatch = ''
    patchShebangs .
  '';
  preConfigure = ''
    export CONFIG_SHELL="$SHELL"
  '';

  doCheck = true;
  enableParallelBuilding = true;

  meta = {
    description = "A program that produces a familiar, friendly greeting";
    longDescription = ''
      GNU Hello is a program that prints "Hello, world!" when you run it.
      It is fully customizable.
    '';
    homepage = "https://www.gnu.org/software/hello/";
    license = lib.licenses.gpl3Plus;
    mainProgram = "hello";
    platforms = lib.platforms.linux;
  };
}
