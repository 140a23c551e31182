# Rendering values as text: `toPretty` (Nix-like syntax, used in error
# messages), plus a few configuration-file formats.
{ lib }:
let
  inherit (builtins)
    isInt isFloat isString isBool isList isAttrs isPath isFunction length filter
    split concatStringsSep attrNames toJSON functionArgs;
in
rec {
  toPretty = { allowPrettyValues ? false, multiline ? true, indent ? "" }:
    let
      go = indent: v:
        let
          introSpace = if multiline then "\n${indent}  " else " ";
          outroSpace = if multiline then "\n${indent}" else " ";
        in
        if isInt v then toString v
        else if isFloat v then builtins.toJSON v
        else if isString v then
          let
            lines = filter (x: !isList x) (split "\n" v);
            escapeSingle = lib.strings.escape [ "\\" "\"" "\${" ];
            escapeMulti = builtins.replaceStrings [ "\${" "''" ] [ "''\${" "'''" ];
            single = "\"" + concatStringsSep "\\n" (map escapeSingle lines) + "\"";
            multi =
              let
                escaped = map escapeMulti lines;
                lastLine = lib.lists.last escaped;
              in
              "''" + introSpace + concatStringsSep introSpace (lib.lists.init escaped)
              + (if lastLine == "" then outroSpace else introSpace + lastLine) + "''";
          in
          if multiline && length lines > 1 then multi else single
        else if v == true then "true"
        else if v == false then "false"
        else if v == null then "null"
        else if isPath v then toString v
        else if isList v then
          if v == [ ] then "[ ]"
          else "[" + introSpace + concatStringsSep introSpace (map (go (indent + "  ")) v) + outroSpace + "]"
        else if lib.trivial.isFunction v then
          let
            fna = lib.trivial.functionArgs v;
            shown = concatStringsSep ", " (map (n: if fna.${n} then n + "?" else n) (attrNames fna));
          in
          if fna == { } then "<function>" else "<function, args: {${shown}}>"
        else if isAttrs v then
          if allowPrettyValues && v ? __pretty && v ? val then v.__pretty v.val
          else if v == { } then "{ }"
          else if v ? type && v.type == "derivation" then "<derivation ${v.name or "???"}>"
          else "{" + introSpace
            + concatStringsSep introSpace (map (name:
                "${lib.strings.escapeNixIdentifier name} = ${
                  builtins.addErrorContext "while evaluating an attribute `${name}`"
                    (go (indent + "  ") v.${name})};") (attrNames v))
            + outroSpace + "}"
        else abort "generators.toPretty: unexpected value";
    in go indent;

  # Replace values nested deeper than `depthLimit` by "<unevaluated>" (or
  # throw), so that printing a cyclic structure terminates.
  withRecursion = { depthLimit, throwOnDepthLimit ? true }:
    let
      special = [ "__functor" "__functionArgs" "__toString" "__pretty" ];
      stepIntoAttr = evalNext: name: if builtins.elem name special then lib.trivial.id else evalNext;
      transform = depth:
        if depthLimit != null && depth > depthLimit then
          if throwOnDepthLimit then throw "Exceeded maximum eval-depth limit of ${toString depthLimit} while trying to evaluate with `generators.withRecursion'!"
          else lib.trivial.const "<unevaluated>"
        else lib.trivial.id;
      mapAny = depth: v:
        let evalNext = x: mapAny (depth + 1) (transform (depth + 1) x); in
        if isAttrs v then builtins.mapAttrs (stepIntoAttr evalNext) v
        else if isList v then map evalNext v
        else transform (depth + 1) v;
    in mapAny 0;

  toJSON = { }: builtins.toJSON;
  toYAML = { }: builtins.toJSON;

  mkValueStringDefault = { }: v:
    if isInt v || isFloat v then toString v
    else if isString v then v
    else if v == true then "true"
    else if v == false then "false"
    else if v == null then "null"
    else if isPath v then toString v
    else if lib.strings.isStringLike v then toString v
    else throw "generators.mkValueStringDefault: cannot convert a ${builtins.typeOf v}";

  mkKeyValueDefault = { mkValueString ? mkValueStringDefault { } }: sep: k: v:
    "${lib.strings.escape [ sep ] k}${sep}${mkValueString v}";

  toKeyValue = { mkKeyValue ? mkKeyValueDefault { } "=", listsAsDuplicateKeys ? false, indent ? "" }: attrs:
    let
      mkLine = k: v: indent + mkKeyValue k v + "\n";
      mkLines = if listsAsDuplicateKeys
        then k: v: map (mkLine k) (if isList v then v else [ v ])
        else k: v: [ (mkLine k v) ];
    in concatStringsSep "" (lib.lists.concatLists (lib.attrsets.mapAttrsToList mkLines attrs));

  toINI = { mkSectionName ? (name: lib.strings.escape [ "[" "]" ] name), mkKeyValue ? mkKeyValueDefault { } "=", listsAsDuplicateKeys ? false }: attrsOfAttrs:
    let
      mkSection = sectName: sectValues: ''
        [${mkSectionName sectName}]
      '' + toKeyValue { inherit mkKeyValue listsAsDuplicateKeys; } sectValues;
    in concatStringsSep "\n" (lib.attrsets.mapAttrsToList mkSection attrsOfAttrs);
}
