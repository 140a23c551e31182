# The upstream release tarballs of jq 1.6 and oniguruma 6.9.4, which ship a
# generated `configure` (Debian's jq and libonig orig tarballs are git
# archives that need autoreconf, which the bootstrap does not have).  The PyPI
# sdist of the `jq` Python binding 1.4.1 carries both under deps/; each is
# taken out of it as a fixed-output derivation whose hash is the upstream
# release's own.
{ fetchPypi, stdenvNoCC }:
let
  sdist = fetchPypi {
    pname = "jq";
    version = "1.4.1";
    filename = "jq-1.4.1.tar.gz";
    sha256 = "52284ee3cb51670e6f537b0ec813654c064c1c0705bd910097ea0fe17313516d";
  };
  member = file: sha256: stdenvNoCC.mkDerivation {
    name = file;
    inherit sdist file;
    buildCommand = ''
      tar -xzOf "$sdist" "jq-1.4.1/deps/$file" > "$out"
    '';
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = sha256;
    preferLocalBuild = true;
  };
in
{
  jq = member "jq-1.6.tar.gz" "5de8c8e29aaa3fb9cc6b47bb27299f271354ebb72514e3accadc7d38b5bbaa72";
  oniguruma = member "onig-6.9.4.tar.gz" "4669d22ff7e0992a7e93e116161cac9c0949cd8960d1c562982026726f0e6d53";
}
