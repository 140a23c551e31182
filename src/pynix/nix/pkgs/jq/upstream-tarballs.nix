# Upstream release tarballs that ship a generated `configure`: jq 1.6 and
# oniguruma 6.9.8 (the versions of Debian bookworm's jq and libonig, whose orig
# tarballs are git archives that need autoreconf, which the bootstrap does not
# have).  The PyPI sdists of the `jq` Python binding carry them under deps/
# (1.4.1: jq 1.6; 1.6.0: oniguruma 6.9.8); each is taken out of its sdist as a
# fixed-output derivation whose hash is that of the upstream release file.
{ fetchPypi, stdenvNoCC }:
let
  sdist = version: sha256: fetchPypi {
    pname = "jq";
    inherit version sha256;
    filename = "jq-${version}.tar.gz";
  };
  # `file` of the sdist of version `version`, checked against `sha256`
  member = version: src: file: sha256: stdenvNoCC.mkDerivation {
    name = file;
    inherit src;
    memberPath = "jq-${version}/deps/${file}";
    buildCommand = ''
      tar -xzOf "$src" "$memberPath" > "$out"
    '';
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = sha256;
    preferLocalBuild = true;
  };
  fromSdist = version: sha256: member version (sdist version sha256);
in
{
  jq = fromSdist "1.4.1" "52284ee3cb51670e6f537b0ec813654c064c1c0705bd910097ea0fe17313516d"
    "jq-1.6.tar.gz" "5de8c8e29aaa3fb9cc6b47bb27299f271354ebb72514e3accadc7d38b5bbaa72";
  oniguruma = fromSdist "1.6.0" "c7711f0c913a826a00990736efa6ffc285f8ef433414516bb14b7df971d6c1ea"
    "onig-6.9.8.tar.gz" "28cd62c1464623c7910565fb1ccaaa0104b2fe8b12bcd646e81f73b47535213e";
}
