# fetchurl, fetchzip and fetchgit for packages, every one checked against a
# hash given by the caller.
#
# - fetchurl: a file, downloaded by the store itself (`builtin:fetchurl`,
#   see <nix/fetchurl.nix>), so no builder program is involved.
# - fetchzip: an archive (.tar, .tar.gz, .tar.bz2, .tar.xz, .zip), unpacked by
#   the store itself (`builtin:fetchzip`); the hash is of the unpacked tree,
#   whose single top-level directory is removed unless `stripRoot = false`.
# - fetchgit: a local git repository (a path or file:// URL) at `rev`, fetched
#   at evaluation time with builtins.fetchGit; the result's NAR hash must
#   equal `hash`/`sha256`.
{ }:
let
  inherit (builtins) baseNameOf convertHash match toString;

  sriOf = { hash ? "", sha256 ? "" }:
    if hash != "" then hash
    else if sha256 != "" then convertHash { hash = sha256; hashAlgo = "sha256"; toHashFormat = "sri"; }
    else null;

  # "name-1.0.tar.gz" -> "name-1.0"
  stripArchiveSuffix = name:
    let m = match "(.*)\\.(tar\\.gz|tar\\.xz|tar\\.bz2|tgz|tar|zip)" name;
    in if m == null then name else builtins.head m;
in
{
  fetchurl = { url, name ? baseNameOf (toString url), hash ? "", sha256 ? "", executable ? false, ... }:
    let sri = sriOf { inherit hash sha256; };
    in
    if sri == null then throw "fetchurl: no hash given for '${url}' (pass `hash = \"sha256-...\";`)"
    else import <nix/fetchurl.nix> { inherit url name executable; hash = sri; };

  fetchzip = { url, name ? stripArchiveSuffix (baseNameOf (toString url)), hash ? "", sha256 ? "", stripRoot ? true }:
    let sri = sriOf { inherit hash sha256; };
    in
    if sri == null then throw "fetchzip: no hash given for '${url}' (pass `hash = \"sha256-...\";`)"
    else derivation {
      inherit name url stripRoot;
      builder = "builtin:fetchzip";
      system = "builtin";
      outputHashMode = "recursive";
      outputHash = sri;
      preferLocalBuild = true;
    };

  fetchgit = { url, rev, hash ? "", sha256 ? "", name ? "source", submodules ? false }:
    let
      sri = sriOf { inherit hash sha256; };
      src = builtins.fetchGit { inherit url rev submodules; name = name; };
    in
    if sri == null then throw "fetchgit: no hash given for '${url}' (pass `hash = \"sha256-...\";`)"
    else if src.narHash != sri then
      throw "hash mismatch in fetchgit of '${url}' at ${rev}:\n  specified: ${sri}\n  got:       ${src.narHash}"
    else src;
}
