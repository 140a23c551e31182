# fetchPypi: one file of a PyPI release (a wheel or an sdist) as a fixed-output
# derivation.  The builtin builder gets exactly `filename` with
# `pip download --no-deps` (pip's own index configuration) and the result is
# checked against `sha256`.  Pins come from `pynix debian lock-pypi`.
{ pname, version, filename, sha256 }:
let
  # store names allow [A-Za-z0-9+._?=-]; PEP 440 epochs use '!'
  safe = builtins.replaceStrings [ "!" ":" "~" "%" "/" " " ] [ "_" "_" "_" "_" "_" "_" ];
in
derivation {
  name = safe filename;
  builder = "builtin:fetch-pypi";
  system = "builtin";
  inherit pname version filename;
  outputHashMode = "flat";
  outputHashAlgo = "sha256";
  outputHash = sha256;
  preferLocalBuild = true;
}
