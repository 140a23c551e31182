# Option declarations and the helpers that show options, files and
# definitions in messages.
{ lib }:
let
  inherit (builtins)
    isString isList isAttrs length head tail filter foldl' concatStringsSep
    attrNames tryEval split;
  inherit (lib.strings) escapeNixIdentifier;
in
rec {
  mkOption = attrs: attrs // { _type = "option"; };

  isOption = x: isAttrs x && x._type or null == "option";

  mkEnableOption = name: mkOption {
    type = lib.types.bool;
    default = false;
    example = true;
    description = "Whether to enable ${name}.";
  };

  mkPackageOption = pkgs: name:
    { nullable ? false, default ? name, example ? null, extraDescription ? "", pkgsText ? "pkgs" }:
    let
      namePath = lib.lists.toList name;
      shortName = lib.lists.last namePath;
      defaultPath = lib.lists.toList default;
      defaultText = lib.attrsets.showAttrPath defaultPath;
      defaultValue = lib.attrsets.attrByPath defaultPath
        (throw "${defaultText} cannot be found in ${pkgsText}") pkgs;
      defaults =
        if default != null then {
          default = defaultValue;
          defaultText = literalExpression "${pkgsText}.${defaultText}";
        }
        else lib.attrsets.optionalAttrs nullable { default = null; };
      exampleAttrs = lib.attrsets.optionalAttrs (example != null) {
        example = literalExpression
          (if isList example then "${pkgsText}.${lib.attrsets.showAttrPath example}" else example);
      };
    in
    mkOption (defaults // exampleAttrs // {
      description = "The ${shortName} package to use."
        + (if extraDescription == "" then "" else " ") + extraDescription;
      type = if nullable then lib.types.nullOr lib.types.package else lib.types.package;
    });
  mkPackageOptionMD = mkPackageOption;

  mkSinkUndeclaredOptions = attrs: mkOption ({
    internal = true;
    visible = false;
    default = false;
    description = "Sink for option definitions.";
    type = lib.types.mkOptionType {
      name = "sink";
      check = x: true;
      merge = loc: defs: false;
    };
    apply = x: throw "Option value is not readable because the option is not declared.";
  } // attrs);

  literalExpression = text:
    if !isString text then throw "literalExpression expects a string."
    else { _type = "literalExpression"; inherit text; };
  literalExample = literalExpression;
  literalMD = text:
    if !isString text then throw "literalMD expects a string."
    else { _type = "literalMD"; inherit text; };

  # ----------------------------------------------------------------- merging

  getValues = map (x: x.value);
  getFiles = map (x: x.file);

  prioritySuggestion =
    "Use `lib.mkForce value` or `lib.mkDefault value` to change the priority on any of these definitions.";

  mergeDefaultOption = loc: defs:
    let list = getValues defs; in
    if length list == 1 then head list
    else if builtins.all lib.trivial.isFunction list then
      x: mergeDefaultOption loc (map (f: f x) list)
    else if builtins.all isList list then builtins.concatLists list
    else if builtins.all isAttrs list then foldl' lib.trivial.mergeAttrs { } list
    else if builtins.all builtins.isBool list then builtins.any lib.trivial.id list
    else if builtins.all isString list then lib.strings.concatStrings list
    else if builtins.all builtins.isInt list && builtins.all (x: x == head list) list then head list
    else throw "Cannot merge definitions of `${showOption loc}'. Definition values:${showDefs defs}";

  mergeUniqueOption = { message, merge ? loc: defs: (head defs).value }: loc: defs:
    if length defs == 1 then merge loc defs
    else
      assert length defs > 1;
      throw "The option `${showOption loc}' is defined multiple times while it's expected to be unique.\n${message}\nDefinition values:${showDefs defs}\n${prioritySuggestion}";

  mergeOneOption = mergeUniqueOption { message = ""; };

  mergeEqualOption = loc: defs:
    if defs == [ ] then abort "mergeEqualOption: no definitions"
    else if length defs == 1 then (head defs).value
    else
      (foldl' (first: def:
        if def.value != first.value then
          throw "The option `${showOption loc}' has conflicting definition values:${showDefs [ first def ]}\n${prioritySuggestion}"
        else first) (head defs) (tail defs)).value;

  # ---------------------------------------------------------------- showing

  # Placeholders (`*`, `<name>`, `<function body>`...) are shown as they are.
  showOption = parts:
    concatStringsSep "." (map (part:
      if part == "*" || builtins.match "<.*>" part != null then part
      else escapeNixIdentifier part) parts);

  showFiles = files: concatStringsSep " and " (map (f: "`${f}'") files);

  # One "- In `file': value" line per definition; values pretty-printed,
  # multi-line ones indented by 4 and cut after 5 lines; a value that fails
  # to evaluate is shown without its value.
  showDefs = defs: lib.strings.concatMapStrings (def:
    let
      pretty = tryEval (lib.generators.toPretty { }
        (lib.generators.withRecursion { depthLimit = 10; throwOnDepthLimit = false; } def.value));
      lines = filter (x: !isList x) (split "\n" pretty.value);
      shown = concatStringsSep "\n    "
        (lib.lists.take 5 lines ++ lib.lists.optional (length lines > 5) "...");
      result =
        if !pretty.success then ""
        else if length lines > 1 then ":\n    " + shown
        else ": " + shown;
    in
    "\n- In `${def.file}'${result}") defs;

  unknownModule = "<unknown-file>";

  # A flat list of visible options (for documentation tools).
  optionAttrSetToDocList = optionAttrSetToDocList' [ ];
  optionAttrSetToDocList' = _: options:
    lib.lists.concatMap (opt:
      let
        docOption = {
          loc = opt.loc;
          name = showOption opt.loc;
          description = opt.description or null;
          declarations = opt.declarations or [ ];
          internal = opt.internal or false;
          visible = opt.visible or true;
          readOnly = opt.readOnly or false;
          type = opt.type.description or "unspecified";
        } // lib.attrsets.optionalAttrs (opt ? default) { default = opt.defaultText or opt.default; }
          // lib.attrsets.optionalAttrs (opt ? example) { example = opt.example; };
        subOptions = let ss = opt.type.getSubOptions opt.loc; in
          if ss != { } then optionAttrSetToDocList' opt.loc ss else [ ];
      in [ docOption ] ++ subOptions)
      (lib.attrsets.collect isOption options);
}
