# Option types (spec §4).  A type is a plain attribute set tagged
# `_type = "option-type"`; everything the module system needs (check, merge,
# emptyValue, description, typeMerge, ...) is read from that set, so types can
# be adjusted with `//`.
{ lib }:
let
  inherit (builtins)
    isAttrs isList isString isInt isFloat isBool isPath length head tail elem
    filter foldl' concatLists concatStringsSep attrNames mapAttrs zipAttrsWith
    substring stringLength match typeOf all any toJSON;
  inherit (lib.options)
    showOption showFiles showDefs getValues getFiles mergeEqualOption
    mergeOneOption mergeUniqueOption mergeDefaultOption;
  inherit (lib.trivial) isFunction;
  inherit (lib.strings) isStringLike isStorePath escapeNixString;

  isType = type: x: (x._type or "") == type;
  isOptionType = isType "option-type";

  # The description of `t`, parenthesised unless `keepBare` accepts its class.
  phrase = keepBare: t:
    if keepBare (t.descriptionClass or null) then t.description else "(${t.description})";
  nounOrComposite = c: c == "noun" || c == "composite";
  nounOrConjunction = c: c == "noun" || c == "conjunction";

  defaultFunctor = name: {
    inherit name;
    type = types.${name} or null;
    wrapped = null;
    payload = null;
    binOp = a: b: null;
  };

  # How two declarations' types combine: null when they cannot.
  defaultTypeMerge = f: f':
    if f.name != f'.name then null
    else if f.payload != null && f'.payload != null then
      let merged = f.binOp f.payload f'.payload; in
      if merged == null then null else f.type merged
    else if f.payload != null || f'.payload != null then null
    else f.type;

  mkOptionType =
    { name
    , description ? null
    , descriptionClass ? null
    , check ? (x: true)
    , merge ? mergeDefaultOption
    , emptyValue ? { }
    , getSubOptions ? prefix: { }
    , getSubModules ? null
    , substSubModules ? m: null
    , typeMerge ? defaultTypeMerge functor
    , functor ? defaultFunctor name
    , deprecationMessage ? null
    , nestedTypes ? { }
    , valueMetaOf ? null
    }: {
      _type = "option-type";
      inherit name check merge emptyValue getSubOptions getSubModules substSubModules
        typeMerge functor deprecationMessage nestedTypes descriptionClass valueMetaOf;
      description = if description == null then name else description;
    };

  # Functor of a type with element types: merging merges the element types.
  elemFunctor = name: payload: rebuild: {
    inherit name payload;
    type = rebuild;
    wrapped = null;
    binOp = a: b:
      let
        merged = mapAttrs (n: t:
          if isOptionType t then
            (let m = t.typeMerge b.${n}.functor; in if m == null then null else m)
          else if t == b.${n} then t else null) a;
      in
      if any (v: v == null) (builtins.attrValues merged) then null else merged;
  };

  addCheck = elemType: check: elemType // { check = x: elemType.check x && check x; };

  # Equal-merged integer subtypes.
  betweenDesc = lo: hi: "${toString lo} and ${toString hi} (both inclusive)";
  between = lo: hi:
    assert lib.asserts.assertMsg (lo <= hi) "ints.between: lowest must be smaller than highest";
    addCheck types.int (x: x >= lo && x <= hi) // {
      name = "intBetween";
      description = "integer between ${betweenDesc lo hi}";
    };
  intRange = lo: hi: name: start: between lo hi // {
    inherit name;
    description = "${start}; between ${betweenDesc lo hi}";
  };
  unsignedBits = bits: intRange 0 (pow2 bits - 1) "unsignedInt${toString bits}" "${toString bits} bit unsigned integer";
  signedBits = bits: intRange (0 - pow2 (bits - 1)) (pow2 (bits - 1) - 1) "signedInt${toString bits}" "${toString bits} bit signed integer";
  pow2 = n: if n == 0 then 1 else 2 * pow2 (n - 1);

  showEnumValue = v:
    if isString v then ''"${v}"''
    else if isInt v then toString v
    else if isBool v then lib.trivial.boolToString v
    else "<${typeOf v}>";

  types = rec {
    inherit isType mkOptionType addCheck isOptionType defaultFunctor defaultTypeMerge;

    mergeTypes = a: b:
      let merged = a.typeMerge b.functor; in
      if merged == null then throw "The option types `${a.name}' and `${b.name}' cannot be merged."
      else merged;

    # ------------------------------------------------------------ scalars

    raw = mkOptionType {
      name = "raw";
      description = "raw value";
      descriptionClass = "noun";
      check = x: true;
      merge = mergeOneOption;
    };

    unspecified = mkOptionType {
      name = "unspecified";
      description = "unspecified value";
      descriptionClass = "noun";
    };

    bool = mkOptionType {
      name = "bool";
      description = "boolean";
      descriptionClass = "noun";
      check = isBool;
      merge = mergeEqualOption;
    };

    boolByOr = mkOptionType {
      name = "boolByOr";
      description = "boolean (merged using or)";
      descriptionClass = "noun";
      check = isBool;
      merge = loc: defs: any (d: d.value) defs;
    };

    int = mkOptionType {
      name = "int";
      description = "signed integer";
      descriptionClass = "noun";
      check = isInt;
      merge = mergeEqualOption;
    };

    ints = {
      inherit between;
      unsigned = addCheck types.int (x: x >= 0) // {
        name = "unsignedInt";
        description = "unsigned integer, meaning >=0";
        descriptionClass = "nonRestrictiveClause";
      };
      positive = addCheck types.int (x: x > 0) // {
        name = "positiveInt";
        description = "positive integer, meaning >0";
        descriptionClass = "nonRestrictiveClause";
      };
      u8 = unsignedBits 8;
      u16 = unsignedBits 16;
      u32 = unsignedBits 32;
      s8 = signedBits 8;
      s16 = signedBits 16;
      s32 = signedBits 32;
    };

    port = ints.u16;

    float = mkOptionType {
      name = "float";
      description = "floating point number";
      descriptionClass = "noun";
      check = isFloat;
      merge = mergeEqualOption;
    };

    number = either int float;

    numbers = {
      between = lo: hi: addCheck number (x: x >= lo && x <= hi) // {
        name = "numberBetween";
        description = "integer or floating point number between ${betweenDesc lo hi}";
      };
      nonnegative = addCheck number (x: x >= 0) // {
        name = "numberNonnegative";
        description = "nonnegative integer or floating point number, meaning >=0";
      };
      positive = addCheck number (x: x > 0) // {
        name = "numberPositive";
        description = "positive integer or floating point number, meaning >0";
      };
    };

    str = mkOptionType {
      name = "str";
      description = "string";
      descriptionClass = "noun";
      check = isString;
      merge = mergeEqualOption;
    };

    nonEmptyStr = mkOptionType {
      name = "nonEmptyStr";
      description = "non-empty string";
      descriptionClass = "noun";
      check = x: isString x && match "[ \t\n]*" x == null;
      merge = mergeEqualOption;
    };

    singleLineStr = mkOptionType {
      name = "singleLineStr";
      description = "(optionally newline-terminated) single-line string";
      descriptionClass = "noun";
      check = x: isString x && match "[^\n\r]*\n?" x != null;
      merge = loc: defs: lib.strings.removeSuffix "\n" (mergeEqualOption loc defs);
    };

    strMatching = pattern: mkOptionType {
      name = "strMatching ${escapeNixString pattern}";
      description = "string matching the pattern ${pattern}";
      descriptionClass = "noun";
      check = x: isString x && match pattern x != null;
      merge = mergeEqualOption;
      functor = defaultFunctor "strMatching" // {
        type = payload: strMatching payload;
        payload = pattern;
        binOp = a: b: if a == b then a else null;
      };
    };

    separatedString = sep: mkOptionType {
      name = "separatedString";
      description =
        if sep == "" then "Concatenated string"
        else "strings concatenated with ${toJSON sep}";
      descriptionClass = "noun";
      check = isString;
      merge = loc: defs: concatStringsSep sep (getValues defs);
      functor = defaultFunctor "separatedString" // {
        type = separatedString;
        payload = sep;
        binOp = a: b: if a == b then a else null;
      };
    };

    lines = separatedString "\n";
    commas = separatedString ",";
    envVar = separatedString ":";

    string = separatedString "" // {
      name = "string";
      deprecationMessage = "See https://github.com/NixOS/nixpkgs/pull/66346 for better alternative types.";
    };

    passwdEntry = entryType: addCheck entryType (s: !(lib.strings.hasInfix ":" s || lib.strings.hasInfix "\n" s)) // {
      name = "passwdEntry ${entryType.name}";
      description = "${phrase (c: c == "noun") entryType}, not containing newlines or colons";
      descriptionClass = "nonRestrictiveClause";
    };

    attrs = mkOptionType {
      name = "attrs";
      description = "attribute set";
      check = isAttrs;
      merge = loc: foldl' (res: def: res // def.value) { };
      emptyValue = { value = { }; };
    };

    package = mkOptionType {
      name = "package";
      descriptionClass = "noun";
      check = x: lib.attrsets.isDerivation x || isStorePath x;
      merge = loc: defs:
        let res = mergeOneOption loc defs; in
        if isPath res || (isString res && !builtins.hasContext res)
        then lib.attrsets.toDerivation res
        else res;
    };

    shellPackage = package // {
      check = x: lib.attrsets.isDerivation x && x ? shellPath;
    };

    pathWith = { inStore ? null, absolute ? null }:
      mkOptionType {
        name = if inStore == null && absolute == true then "path" else "pathWith";
        description =
          if inStore == true then "path in the Nix store"
          else if inStore == false && absolute == true then "absolute path not in the Nix store"
          else if inStore == false then "path not in the Nix store"
          else if absolute == true then "absolute path"
          else if absolute == false then "relative path"
          else "path";
        descriptionClass = "noun";
        check = x:
          let s = toString x; in
          (isPath x || isStringLike x)
          && (absolute != true || substring 0 1 s == "/")
          && (absolute != false || substring 0 1 s != "/")
          && (inStore == null ||
            (let inside = lib.strings.hasPrefix "${builtins.storeDir}/" s && stringLength s > stringLength builtins.storeDir + 1;
             in if inStore then inside else !inside));
        merge = mergeEqualOption;
        functor = defaultFunctor "path" // {
          type = pathWith;
          payload = { inherit inStore absolute; };
          binOp = a: b: if a == b then a else null;
        };
      };

    path = pathWith { absolute = true; };
    pathInStore = pathWith { inStore = true; absolute = true; } // { name = "pathInStore"; };
    externalPath = pathWith { inStore = false; absolute = true; } // { name = "externalPath"; };

    enum = values:
      mkOptionType {
        name = "enum";
        description =
          if values == [ ] then "impossible (empty enum)"
          else if length values == 1 then "value ${showEnumValue (head values)} (singular enum)"
          else "one of ${concatStringsSep ", " (map showEnumValue values)}";
        descriptionClass = if length values < 2 then "noun" else "conjunction";
        check = x: elem x values;
        merge = mergeEqualOption;
        functor = defaultFunctor "enum" // {
          type = payload: enum payload.values;
          payload = { inherit values; };
          binOp = a: b: { values = lib.lists.unique (a.values ++ b.values); };
        };
      };

    anything = mkOptionType {
      name = "anything";
      description = "anything";
      descriptionClass = "noun";
      check = x: true;
      merge = loc: defs:
        let
          kind = v:
            if isAttrs v && isStringLike v then "stringCoercibleSet"
            else typeOf v;
          kinds = map (d: kind d.value) defs;
          k = head kinds;
        in
        if !(all (x: x == k) kinds) then
          throw "The option `${showOption loc}' has conflicting option types in ${showFiles (getFiles defs)}"
        else if k == "set" then (attrsOf anything).merge loc defs
        else if k == "lambda" then
          x: anything.merge (loc ++ [ "<function body>" ])
            (map (d: { inherit (d) file; value = d.value x; }) defs)
        else if k == "stringCoercibleSet" then mergeOneOption loc defs
        else mergeEqualOption loc defs;
    };

    # --------------------------------------------------------- composites

    listOf = elemType: mkOptionType {
      name = "listOf";
      description = "list of ${phrase nounOrComposite elemType}";
      descriptionClass = "composite";
      check = isList;
      merge = loc: defs:
        concatLists (lib.lists.imap1 (n: def:
          concatLists (lib.lists.imap1 (m: v:
            (lib.modules.mergeDefinitions
              (loc ++ [ "[definition ${toString n}-entry ${toString m}]" ])
              elemType [ { inherit (def) file; value = v; } ]).optionalList) def.value)) defs);
      emptyValue = { value = [ ]; };
      valueMetaOf = loc: defs: {
        list = concatLists (lib.lists.imap1 (n: def:
          lib.lists.imap1 (m: v:
            (lib.modules.mergeDefinitions
              (loc ++ [ "[definition ${toString n}-entry ${toString m}]" ])
              elemType [ { inherit (def) file; value = v; } ]).valueMeta) def.value) defs);
      };
      getSubOptions = prefix: elemType.getSubOptions (prefix ++ [ "*" ]);
      getSubModules = elemType.getSubModules;
      substSubModules = m: listOf (elemType.substSubModules m);
      functor = elemFunctor "listOf" { inherit elemType; } (p: listOf p.elemType);
      nestedTypes.elemType = elemType;
    };

    nonEmptyListOf = elemType:
      let list = addCheck (listOf elemType) (l: l != [ ]); in
      list // {
        description = "non-empty ${phrase (c: c == "noun") list}";
        emptyValue = { };
        substSubModules = m: nonEmptyListOf (elemType.substSubModules m);
      };

    attrsWith = { elemType, lazy ? false, placeholder ? "name" }:
      mkOptionType {
        name = if lazy then "lazyAttrsOf" else "attrsOf";
        description =
          (if lazy then "lazy attribute set" else "attribute set")
          + " of ${phrase nounOrComposite elemType}";
        descriptionClass = "composite";
        check = isAttrs;
        merge =
          if lazy then
            loc: defs:
              zipAttrsWith (name: defs:
                let merged = lib.modules.mergeDefinitions (loc ++ [ name ]) elemType defs; in
                merged.optionalValue.value or elemType.emptyValue.value or merged.mergedValue)
                (map (def: mapAttrs (n: v: { inherit (def) file; value = v; }) def.value) defs)
          else
            loc: defs:
              let
                merged = zipAttrsWith (name: defs:
                  (lib.modules.mergeDefinitions (loc ++ [ name ]) elemType defs).optionalValue)
                  (map (def: mapAttrs (n: v: { inherit (def) file; value = v; }) def.value) defs);
              in
              mapAttrs (n: v: v.value) (lib.attrsets.filterAttrs (n: v: v ? value) merged);
        emptyValue = { value = { }; };
        valueMetaOf = loc: defs: {
          attrs = zipAttrsWith (name: defs:
            (lib.modules.mergeDefinitions (loc ++ [ name ]) elemType defs).valueMeta)
            (map (def: mapAttrs (n: v: { inherit (def) file; value = v; }) def.value) defs);
        };
        getSubOptions = prefix: elemType.getSubOptions (prefix ++ [ "<${placeholder}>" ]);
        getSubModules = elemType.getSubModules;
        substSubModules = m: attrsWith { elemType = elemType.substSubModules m; inherit lazy placeholder; };
        functor = defaultFunctor "attrsWith" // {
          name = if lazy then "lazyAttrsOf" else "attrsOf";
          type = payload: attrsWith payload;
          payload = { inherit elemType lazy placeholder; };
          binOp = a: b:
            let m = a.elemType.typeMerge b.elemType.functor; in
            if m == null || a.lazy != b.lazy then null
            else if a.placeholder != b.placeholder && a.placeholder != "name" && b.placeholder != "name" then null
            else {
              elemType = m;
              inherit (a) lazy;
              placeholder = if a.placeholder == "name" then b.placeholder else a.placeholder;
            };
        };
        nestedTypes.elemType = elemType;
      };

    attrsOf = elemType: attrsWith { inherit elemType; };
    lazyAttrsOf = elemType: attrsWith { inherit elemType; lazy = true; };

    nullOr = elemType: mkOptionType {
      name = "nullOr";
      description = "null or ${phrase nounOrConjunction elemType}";
      descriptionClass = "conjunction";
      check = x: x == null || elemType.check x;
      merge = loc: defs:
        let nulls = length (filter (def: def.value == null) defs); in
        if nulls == length defs then null
        else if nulls != 0 then
          throw "The option `${showOption loc}` is defined both null and not null, in ${showFiles (getFiles defs)}."
        else elemType.merge loc defs;
      emptyValue = { value = null; };
      getSubOptions = elemType.getSubOptions;
      getSubModules = elemType.getSubModules;
      substSubModules = m: nullOr (elemType.substSubModules m);
      functor = elemFunctor "nullOr" { inherit elemType; } (p: nullOr p.elemType);
      nestedTypes.elemType = elemType;
    };

    functionTo = elemType: mkOptionType {
      name = "functionTo";
      description = "function that evaluates to a(n) ${phrase nounOrComposite elemType}";
      descriptionClass = "composite";
      check = isFunction;
      merge = loc: defs:
        lib.trivial.setFunctionArgs
          (x: (lib.modules.mergeDefinitions (loc ++ [ "<function body>" ]) elemType
            (map (d: { inherit (d) file; value = d.value x; }) defs)).mergedValue)
          (zipAttrsWith (n: vs: all (v: v) vs) (map (d: lib.trivial.functionArgs d.value) defs));
      getSubOptions = prefix: elemType.getSubOptions (prefix ++ [ "<function body>" ]);
      getSubModules = elemType.getSubModules;
      substSubModules = m: functionTo (elemType.substSubModules m);
      functor = elemFunctor "functionTo" { inherit elemType; } (p: functionTo p.elemType);
      nestedTypes.elemType = elemType;
    };

    unique = { message }: elemType: mkOptionType {
      name = "unique";
      inherit (elemType) description descriptionClass check emptyValue getSubOptions getSubModules;
      merge = mergeUniqueOption { inherit message; inherit (elemType) merge; };
      substSubModules = m: unique { inherit message; } (elemType.substSubModules m);
      functor = elemFunctor "unique" { inherit elemType; } (p: unique { inherit message; } p.elemType);
      nestedTypes.elemType = elemType;
    };
    uniq = unique { message = ""; };

    either = t1: t2: mkOptionType {
      name = "either";
      description =
        if t1.descriptionClass or null == "nonRestrictiveClause" then
          "${t1.description}, or ${phrase (c: nounOrConjunction c || c == "composite") t2}"
        else
          "${phrase nounOrConjunction t1} or ${phrase (c: nounOrConjunction c || c == "composite") t2}";
      descriptionClass = "conjunction";
      check = x: t1.check x || t2.check x;
      merge = loc: defs:
        let values = getValues defs; in
        if all t1.check values then t1.merge loc defs
        else if all t2.check values then t2.merge loc defs
        else mergeOneOption loc defs;
      typeMerge = f':
        if f'.name != "either" then null
        else
          let
            a = t1.typeMerge f'.payload.left.functor;
            b = t2.typeMerge f'.payload.right.functor;
          in if a == null || b == null then null else either a b;
      functor = defaultFunctor "either" // {
        payload = { left = t1; right = t2; };
        type = p: either p.left p.right;
      };
      nestedTypes = { left = t1; right = t2; };
    };

    oneOf = ts:
      if ts == [ ] then throw "types.oneOf needs to get at least one type in its argument"
      else lib.lists.foldr (t: acc: if acc == null then t else either t acc) null ts;

    coercedTo = coercedType: coerceFunc: finalType:
      assert lib.asserts.assertMsg (coercedType.getSubModules == null)
        "coercedTo: coercedType must not have submodules (it's a ${coercedType.description})";
      mkOptionType {
        name = "coercedTo";
        description = "${phrase (c: c == "noun") finalType} or ${phrase (c: c == "noun") coercedType} convertible to it";
        check = x: (coercedType.check x && finalType.check (coerceFunc x)) || finalType.check x;
        merge = loc: defs:
          finalType.merge loc (map (def:
            if coercedType.check def.value then def // { value = coerceFunc def.value; } else def) defs);
        emptyValue = finalType.emptyValue;
        getSubOptions = finalType.getSubOptions;
        getSubModules = finalType.getSubModules;
        substSubModules = m: coercedTo coercedType coerceFunc (finalType.substSubModules m);
        typeMerge = t: null;
        functor = defaultFunctor "coercedTo" // { wrapped = finalType; };
        nestedTypes = { inherit coercedType finalType; };
      };

    # ------------------------------------------------------------ modules

    submodule = modules: submoduleWith {
      shorthandOnlyDefinesConfig = true;
      modules = lib.lists.toList modules;
    };

    submoduleWith =
      { modules
      , specialArgs ? { }
      , shorthandOnlyDefinesConfig ? false
      , description ? null
      , class ? null
      }@attrs:
      let
        toModules = defs: map ({ value, file }:
          if isAttrs value && shorthandOnlyDefinesConfig == true
          then { _file = file; config = value; }
          else { _file = file; imports = [ value ]; }) defs;
        base = lib.modules.evalModules {
          inherit class specialArgs;
          modules = [ { _module.args.name = lib.modules.mkOptionDefault "‹name›"; } ] ++ modules;
        };
        freeformType = base._module.freeformType;
        # The nested evaluation for the definitions `defs` at `loc` (§4.5).
        evaluate = loc: defs: lib.modules.evalModules {
          inherit class specialArgs;
          prefix = loc;
          modules = modules
            ++ [ { _module.args.name = lib.modules.mkOptionDefault "‹name›"; } ]
            ++ [ { _module.args.name = lib.lists.last loc; } ]
            ++ toModules defs;
        };
      in
      mkOptionType {
        name = "submodule";
        description =
          if description != null then description
          else if freeformType != null then "open submodule of ${phrase nounOrComposite freeformType}"
          else "submodule";
        check = x: isAttrs x || isFunction x || types.path.check x;
        merge = loc: defs: (evaluate loc defs).config;
        valueMetaOf = loc: defs: { configuration = evaluate loc defs; };
        emptyValue = { value = base.config; };
        getSubOptions = prefix:
          (lib.modules.evalModules { inherit class specialArgs prefix; modules = [ { _module.args.name = lib.modules.mkOptionDefault "‹name›"; } ] ++ modules; }).options
          // lib.attrsets.optionalAttrs (freeformType != null) {
            _freeformOptions = freeformType.getSubOptions prefix;
          };
        getSubModules = modules;
        substSubModules = m: submoduleWith (attrs // { modules = m; });
        nestedTypes = lib.attrsets.optionalAttrs (freeformType != null) { inherit freeformType; };
        functor = defaultFunctor "submodule" // {
          type = types.submoduleWith;
          payload = { inherit modules class specialArgs shorthandOnlyDefinesConfig description; };
          binOp = lhs: rhs:
            let
              agree = what: shown: a: b:
                if a == null then b else if b == null then a
                else if a == b then a
                else throw "A submoduleWith option is declared multiple times with conflicting ${what} values${
                  if shown then " ${escapeNixString (toString a)} and ${escapeNixString (toString b)}" else ""}.";
              clash = builtins.intersectAttrs lhs.specialArgs rhs.specialArgs;
            in {
              modules = lhs.modules ++ rhs.modules;
              specialArgs =
                if clash == { } then lhs.specialArgs // rhs.specialArgs
                else throw "A submoduleWith option is declared multiple times with the same specialArgs \"${toString (attrNames clash)}\"";
              shorthandOnlyDefinesConfig = agree "shorthandOnlyDefinesConfig" false lhs.shorthandOnlyDefinesConfig rhs.shorthandOnlyDefinesConfig;
              description = agree "description" false lhs.description rhs.description;
              class = agree "class" true lhs.class rhs.class;
            };
        };
      };

    deferredModule = deferredModuleWith { };
    deferredModuleWith = { staticModules ? [ ] }: mkOptionType {
      name = "deferredModule";
      description = "module";
      descriptionClass = "noun";
      check = x: isAttrs x || isFunction x || types.path.check x;
      merge = loc: defs: {
        imports = staticModules ++ map (def:
          lib.modules.setDefaultModuleLocation "${def.file}, via option ${showOption loc}" def.value) defs;
      };
      getSubOptions = prefix: (lib.modules.evalModules { modules = staticModules; inherit prefix; }).options;
      getSubModules = staticModules;
      substSubModules = m: deferredModuleWith { staticModules = m; };
      functor = defaultFunctor "deferredModuleWith" // {
        type = types.deferredModuleWith;
        payload = { inherit staticModules; };
        binOp = lhs: rhs: { staticModules = lhs.staticModules ++ rhs.staticModules; };
      };
    };

    optionType = mkOptionType {
      name = "optionType";
      description = "optionType";
      descriptionClass = "noun";
      check = isOptionType;
      # Several types merge as if they were the types of several declarations
      # of one option (so submodules learn their declaring files).
      merge = loc: defs:
        if length defs == 1 then (head defs).value
        else
          (lib.modules.fixupOptionType loc (lib.modules.mergeOptionDecls loc
            (map (d: { _file = d.file; options = lib.options.mkOption { type = d.value; }; }) defs))).type;
    };

    attrTag = tags:
      let
        choices = attrNames tags;
        tagType = n: tags.${n}.type or types.unspecified;
      in
      mkOptionType {
        name = "attrTag";
        description = "attribute-tagged union with choices: ${concatStringsSep ", " (map (n: "`${n}`") choices)}";
        descriptionClass = "noun";
        check = x: isAttrs x && length (attrNames x) == 1 && tags ? ${head (attrNames x)};
        merge = loc: defs:
          let
            tagOf = d: head (attrNames d.value);
            t = tagOf (head defs);
          in
          if all (d: tagOf d == t) defs then {
            ${t} = (lib.modules.mergeDefinitions (loc ++ [ t ]) (tagType t)
              (map (d: { inherit (d) file; value = d.value.${t}; }) defs)).mergedValue;
          }
          else throw "The option `${showOption loc}' has conflicting definitions with different tags in ${showFiles (getFiles defs)}";
      };
  };
in
types
