# Whether a package may be evaluated, given its meta and the package set's
# config: { valid = true; } or { valid = false; message = why not, and which
# option allows it; }.
{ lib, config, system }:
let
  inherit (lib) toList filter isAttrs elem concatMapStringsSep;

  shortName = l: if isAttrs l then l.shortName or l.fullName or "unknown" else toString l;
  showList = xs: "[ ${concatMapStringsSep " " (x: "\"${toString x}\"") xs} ]";
in
{ name, meta, attrs ? { } }:
let
  licenses = if meta ? license && meta.license != null then toList meta.license else [ ];
  unfree = filter (l: isAttrs l && (l.free or true) == false) licenses;
  predicate = config.allowUnfreePredicate or (_: false);
  allowUnfree = (config.allowUnfree or false) || predicate (attrs // { inherit meta name; });
  platforms = meta.platforms or null;
  supported = (platforms == null || elem system platforms)
    && !(elem system (meta.badPlatforms or [ ]));
in
if unfree != [ ] && !allowUnfree then {
  valid = false;
  message = ''
    Package '${name}' has an unfree license (${concatMapStringsSep ", " (l: "'${shortName l}'") unfree}), refusing to evaluate.

    To allow unfree packages, set { allowUnfree = true; } in the package set's config:
      import <pynix/pkgs> { config = { allowUnfree = true; }; }
    or allow this one with config.allowUnfreePredicate = pkg: ...;'';
} else if !supported && !(config.allowUnsupportedSystem or false) then {
  valid = false;
  message = ''
    Package '${name}' is not available on the requested system '${system}' (its meta.platforms = ${showList (if platforms == null then [ ] else platforms)}), refusing to evaluate.

    To build it anyway, set { allowUnsupportedSystem = true; } in the package set's config.'';
} else if (meta.broken or false) && !(config.allowBroken or false) then {
  valid = false;
  message = ''
    Package '${name}' is marked as broken, refusing to evaluate.

    To build it anyway, set { allowBroken = true; } in the package set's config.'';
} else {
  valid = true;
}
