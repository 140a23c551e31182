# Rendering values as text: `toPretty` (Nix-like syntax, used in error
# messages), plus a few configuration-file formats.
{ lib }:
let
  inherit (builtins)
    isInt isFloat isString isBool isList isAttrs isPath isFunction length filter
    split concatStringsSep attrNames toJSON functionArgs;
in
rec {
  # Nix-like rendering of a value, as the module system shows definitions:
  # multi-line by default (two spaces per level), strings with newlines as
  # indented '' strings, functions as <function> (with their formals),
  # derivations as <derivation NAME>.
  toPretty = { allowPrettyValues ? false, multiline ? true, indent ? "" }:
    let
      # Separators inside a container whose own line starts with `ind`.
      openSep = ind: if multiline then "\n${ind}  " else " ";
      closeSep = ind: if multiline then "\n${ind}" else " ";

      showString = ind: s:
        let
          lines = filter isString (split "\n" s);
          quoted = "\""
            + concatStringsSep "\\n" (map (lib.strings.escape [ "\\" "\"" "\${" ]) lines)
            + "\"";
          indentedLines = map (builtins.replaceStrings [ "\${" "''" ] [ "''\${" "'''" ]) lines;
          lastLine = lib.lists.last indentedLines;
          indented = "''"
            + lib.strings.concatMapStrings (l: openSep ind + l) (lib.lists.init indentedLines)
            + (if lastLine == "" then closeSep ind else openSep ind + lastLine)
            + "''";
        in
        if multiline && length lines > 1 then indented else quoted;

      showFunction = f:
        let args = lib.trivial.functionArgs f; in
        if args == { } then "<function>"
        else "<function, args: {${concatStringsSep ", " (map (n: n + (if args.${n} then "?" else "")) (attrNames args))}}>";

      showAttrs = ind: v:
        let
          entry = name:
            "${lib.strings.escapeNixIdentifier name} = ${
              builtins.addErrorContext "while evaluating an attribute `${name}`" (show (ind + "  ") v.${name})};";
        in
        "{" + lib.strings.concatMapStrings (n: openSep ind + entry n) (attrNames v) + closeSep ind + "}";

      show = ind: v:
        if isInt v then toString v
        else if isFloat v then builtins.toJSON v
        else if isString v then showString ind v
        else if isBool v then (if v then "true" else "false")
        else if v == null then "null"
        else if isPath v then toString v
        else if isList v then
          (if v == [ ] then "[ ]"
           else "[" + lib.strings.concatMapStrings (x: openSep ind + show (ind + "  ") x) v + closeSep ind + "]")
        else if lib.trivial.isFunction v then showFunction v
        else if isAttrs v then
          (if allowPrettyValues && v ? __pretty && v ? val then v.__pretty v.val
           else if v == { } then "{ }"
           else if v.type or null == "derivation" then "<derivation ${v.name or "???"}>"
           else showAttrs ind v)
        else abort "generators.toPretty: unexpected value";
    in
    show indent;

  # The value with everything nested deeper than `depthLimit` replaced by
  # "<unevaluated>" (or an error), so that rendering a cyclic value ends.
  # A container deeper than the limit is cut; so is a leaf at the limit.
  withRecursion = { depthLimit, throwOnDepthLimit ? true }:
    let
      cut =
        if throwOnDepthLimit
        then throw "Exceeded maximum eval-depth limit of ${toString depthLimit} while trying to evaluate with `generators.withRecursion'!"
        else "<unevaluated>";
      passThrough = [ "__functor" "__functionArgs" "__toString" "__pretty" ];
      walk = depth: v:
        if isAttrs v then
          (if depth > depthLimit then cut
           else builtins.mapAttrs (n: x: if builtins.elem n passThrough then x else walk (depth + 1) x) v)
        else if isList v then
          (if depth > depthLimit then cut else map (walk (depth + 1)) v)
        else if depth + 1 > depthLimit then cut
        else v;
    in
    walk 0;

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
