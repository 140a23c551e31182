# <nix/fetchurl.nix>: download a file as a fixed-output derivation built by the
# store itself ("builtin:fetchurl"), so that no builder program is needed.
# The hash can be given as an SRI `hash` or, the old way, as one of
# md5/sha1/sha256/sha512; `unpack` or `executable` hash the result recursively.
{ url
, name ? baseNameOf (toString url)
, hash ? ""
, md5 ? ""
, sha1 ? ""
, sha256 ? ""
, sha512 ? ""
, executable ? false
, unpack ? false
, impure ? false
, system ? "" # accepted for old callers, not used
}:
let
  legacy =
    if sha512 != "" then { algo = "sha512"; value = sha512; }
    else if sha256 != "" then { algo = "sha256"; value = sha256; }
    else if sha1 != "" then { algo = "sha1"; value = sha1; }
    else if md5 != "" then { algo = "md5"; value = md5; }
    else null;
  contentHash =
    if hash != "" then { outputHash = hash; outputHashAlgo = null; }
    else if legacy != null then { outputHash = legacy.value; outputHashAlgo = legacy.algo; }
    else throw "fetchurl requires a hash for fixed-output derivation: ${url}";
in
derivation ({
  builder = "builtin:fetchurl";
  system = "builtin";
  outputHashMode = if unpack || executable then "recursive" else "flat";
  inherit name url executable unpack;
  preferLocalBuild = true;
  impureEnvVars = [ "http_proxy" "https_proxy" "ftp_proxy" "all_proxy" "no_proxy" ];
  urls = [ url ];
} // (if impure then { __impure = true; } else contentHash))
