# The module system (spec §1-§5): collecting modules, merging option
# declarations and definitions, priorities and ordering, `evalModules`.
{ lib }:
let
  inherit (builtins)
    isAttrs isList isString isBool isPath length head tail elemAt filter foldl'
    concatLists concatMap attrNames mapAttrs zipAttrsWith removeAttrs
    listToAttrs genericClosure addErrorContext typeOf functionArgs seq sort any all;
  inherit (lib.options) showOption showFiles showDefs mkOption isOption;
  inherit (lib.trivial) isFunction;
  types = lib.types;

  defaultOverridePriority = 100;
  defaultOrderPriority = 1000;

  # --------------------------------------------------------------- properties

  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkAssert = cond: msg: content:
    mkIf (if cond then true else throw "\nFailed assertion: ${msg}") content;
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkDefinition = args@{ file, value, ... }: args // { _type = "definition"; };
  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  mkOptionDefault = mkOverride 1500;
  mkDefault = mkOverride 1000;
  mkImageMediaOverride = mkOverride 60;
  mkForce = mkOverride 50;
  mkVMOverride = mkOverride 10;
  mkOrder = priority: content: { _type = "order"; inherit priority content; };
  mkBefore = mkOrder 500;
  mkAfter = mkOrder 1500;

  mkFixStrictness = lib.trivial.id;

  # Split a module's config into attribute sets whose values carry the
  # properties: mkMerge fans out, mkIf / mkOverride move onto every attribute
  # (conditions are not evaluated here).
  pushDownProperties = cfg:
    let t = cfg._type or ""; in
    if t == "merge" then concatMap pushDownProperties cfg.contents
    else if t == "if" then
      map (c: if isAttrs c then mapAttrs (n: v: mkIf cfg.condition v) c else c)
        (pushDownProperties cfg.content)
    else if t == "override" then
      map (c: if isAttrs c then mapAttrs (n: v: mkOverride cfg.priority v) c else c)
        (pushDownProperties cfg.content)
    else [ cfg ];

  # The values one definition stands for: mkMerge expanded, mkIf decided.
  dischargeProperties = def:
    let t = def._type or ""; in
    if t == "merge" then concatMap dischargeProperties def.contents
    else if t == "if" then
      if isBool def.condition then
        (if def.condition then dischargeProperties def.content else [ ])
      else throw "‘mkIf’ called with a non-Boolean condition"
    else if t == "override" then
      let inner = def.content._type or ""; in
      if inner == "if" || inner == "merge" then
        map (mkOverride def.priority) (dischargeProperties def.content)
      else [ def ]
    else if t == "order" then
      let inner = def.content._type or ""; in
      if inner == "if" || inner == "merge" then
        map (mkOrder def.priority) (dischargeProperties def.content)
      else [ def ]
    else [ def ];

  priorityOf = def:
    if def.value._type or "" == "override" then def.value.priority else defaultOverridePriority;

  filterOverrides' = defs:
    let
      highestPrio = foldl' (p: def: let q = priorityOf def; in if q < p then q else p) 9999 defs;
      strip = def:
        if def.value._type or "" == "override" then def // { value = def.value.content; } else def;
    in {
      inherit highestPrio;
      values = concatMap (def: if priorityOf def == highestPrio then [ (strip def) ] else [ ]) defs;
    };
  filterOverrides = defs: (filterOverrides' defs).values;

  sortProperties = defs:
    let
      strip = def:
        if def.value._type or "" == "order"
        then def // { value = def.value.content; inherit (def.value) priority; }
        else def;
    in
    sort (a: b: (a.priority or defaultOrderPriority) < (b.priority or defaultOrderPriority)) (map strip defs);

  # -------------------------------------------------------- merging values

  # A definition value that is not a property (nothing to discharge, filter
  # or sort): the common case, which skips the general pipeline below.
  isPlain = v: !(isAttrs v && v ? _type);

  mergeDefinitions = loc: type: defs: rec {
    defsFinal' =
      if defs != [ ] && all (d: isPlain d.value) defs
      then { values = defs; highestPrio = defaultOverridePriority; }
      else
      let
        discharged = concatMap (d:
          map (value:
            if value._type or "" == "definition"
            then { inherit (value) file value; }
            else { inherit (d) file; inherit value; })
            (addErrorContext "while evaluating definitions from `${d.file}':" (dischargeProperties d.value)))
          defs;
        filtered = filterOverrides' discharged;
        sorted =
          if any (d: d.value._type or "" == "order") filtered.values
          then sortProperties filtered.values
          else filtered.values;
      in { values = sorted; inherit (filtered) highestPrio; };
    defsFinal = defsFinal'.values;
    isDefined = defsFinal != [ ];
    mergedValue =
      if isDefined then
        if all (d: type.check d.value) defsFinal then type.merge loc defsFinal
        else
          let invalid = filter (d: !type.check d.value) defsFinal; in
          throw "A definition for option `${showOption loc}' is not of type `${type.description}'. Definition values:${showDefs invalid}"
      else if type.emptyValue ? value then type.emptyValue.value
      else throw "The option `${showOption loc}' was accessed but has no value defined. Try setting the option.";
    # Per-type metadata of the merged value (the submodule's evaluation, the
    # elements' metadata...), computed only when asked for.
    valueMeta = if isDefined && type.valueMetaOf or null != null then type.valueMetaOf loc defsFinal else { };
    optionalValue = if isDefined then { value = mergedValue; } else { };
    optionalList = if isDefined then [ mergedValue ] else [ ];
  };

  evalOptionValue = loc: opt: defs:
    let
      defs' = (if opt ? default then [ { file = head opt.declarations; value = mkOptionDefault opt.default; } ] else [ ]) ++ defs;
      # Only the default (a plain value): it wins with its priority as it is.
      onlyDefault = defs == [ ] && opt ? default && isPlain opt.default;
      res =
        if onlyDefault then
          let d = [ { file = head opt.declarations; value = opt.default; } ]; in
          mergeDefinitions loc opt.type d // { defsFinal' = { values = d; highestPrio = 1500; }; }
        else if opt.readOnly or false && length defs' > 1 then
          let separate = map (d: d // { value = (mergeDefinitions loc opt.type [ d ]).mergedValue; }) defs'; in
          throw "The option `${showOption loc}' is read-only, but it's set multiple times. Definition values:${showDefs separate}"
        else mergeDefinitions loc opt.type defs';
      value = if opt ? apply then opt.apply res.mergedValue else res.mergedValue;
      deprecation = opt.type.deprecationMessage or null;
      warnDeprecation =
        lib.trivial.warnIf (deprecation != null)
          "The type `types.${opt.type.name}' of option `${showOption loc}' defined in ${showFiles opt.declarations} is deprecated. ${toString deprecation}";
    in
    warnDeprecation opt // {
      value = addErrorContext "while evaluating the option `${showOption loc}':" value;
      inherit (res.defsFinal') highestPrio;
      definitions = map (d: d.value) res.defsFinal;
      files = map (d: d.file) res.defsFinal;
      definitionsWithLocations = res.defsFinal;
      inherit (res) isDefined valueMeta;
      __toString = _: showOption loc;
    };

  # ------------------------------------------------------- declarations

  mergeOptionDecls = loc: decls:
    foldl' (res: d:
      let
        o = d.options;
        both = n: o ? ${n} && res ? ${n};
        mergedType = if o ? type && res ? type then res.type.typeMerge o.type.functor else null;
        clash = both "default" || both "example" || both "description" || both "apply"
          || (o ? type && res ? type && mergedType == null);
        subModules = o.type.getSubModules or null;
        options' =
          if subModules != null
          then map (setDefaultModuleLocation d._file) subModules ++ res.options
          else res.options;
        typeAttr =
          if o ? type then (if res ? type then { type = mergedType; } else { inherit (o) type; })
          else { };
      in
      if clash then
        throw "The option `${showOption loc}' in `${d._file}' is already declared in ${showFiles res.declarations}."
      else
        o // res // typeAttr // {
          declarations = res.declarations ++ [ d._file ];
          declarationPositions = res.declarationPositions ++ [ (positionOf d) ];
          options = options';
        })
      { inherit loc; declarations = [ ]; declarationPositions = [ ]; options = [ ]; }
      decls;

  positionOf = d:
    if d.pos or null != null then d.pos else { file = d._file; line = null; column = null; };

  fixupOptionType = loc: opt:
    if (opt.type.getSubModules or null) == null
    then opt // { type = opt.type or types.unspecified; }
    else opt // { type = opt.type.substSubModules opt.options; options = [ ]; };

  # One option from its declarations: a single declaration is used as is.
  mergeDecls = loc: decls:
    if length decls == 1 && ((head decls).options.type.getSubModules or null) == null then
      let d = head decls; in
      d.options // {
        inherit loc;
        type = d.options.type or types.unspecified;
        declarations = [ d._file ];
        declarationPositions = [ (positionOf d) ];
      }
    else fixupOptionType loc (mergeOptionDecls loc decls);

  # ----------------------------------------------------- the option tree

  # decls: [ { _file; options = <subtree>; } ]; defs: [ { file; config = <attrs>; } ]
  # (configs already pushed down).  Returns the options tree, the config
  # tree and the definitions no option matched.
  mergeLevel = prefix: decls: defs:
    let
      declsByName = zipAttrsWith (n: concatLists) (map (d:
        if isAttrs d.options then
          mapAttrs (n: v: [ { inherit (d) _file; options = v; pos = builtins.unsafeGetAttrPos n d.options; } ]) d.options
        else
          throw "An option declaration for `${showOption prefix}' has type `${typeOf d.options}' rather than an attribute set. Did you mean to define this outside of `options'?")
        decls);
      defsByName = zipAttrsWith (n: concatLists) (map (d:
        if isAttrs d.config then
          mapAttrs (n: v: [ { inherit (d) file; value = v; } ]) d.config
        else
          throw ''
            In module `${d.file}', you're trying to define a value of type `${typeOf d.config}'
            rather than an attribute set for the option
            `${showOption prefix}'!

            This usually means that `${showOption prefix}' has definitions below it that
            match no option. Check how this option is meant to be defined.'')
        defs);
      results = mapAttrs (name: ds:
        let
          loc = prefix ++ [ name ];
          nDefs = defsByName.${name} or [ ];
          optDecls = filter (d: isOption d.options) ds;
          nOpts = length optDecls;
        in
        if nOpts == length ds then
          let opt = evalOptionValue loc (mergeDecls loc ds) nDefs; in
          { option = opt; value = opt.value; unmatched = [ ]; }
        else if nOpts != 0 then
          let
            isSub = d: (d.options.type.name or null) == "submodule";
            first = head optDecls;
            others = filter (d: !(isOption d.options)) ds;
          in
          if all isSub optDecls then
            let
              asOptions = map (d:
                if isOption d.options then d
                else {
                  inherit (d) _file;
                  options = mkOption {
                    type = types.submoduleWith {
                      modules = [ { options = d.options; } ];
                      shorthandOnlyDefinesConfig = null;
                    };
                  };
                }) ds;
              opt = evalOptionValue loc (fixupOptionType loc (mergeOptionDecls loc asOptions)) nDefs;
            in { option = opt; value = opt.value; unmatched = [ ]; }
          else
            throw "The option `${showOption loc}' in module `${first._file}' would be a parent of the following options, but its type `${first.options.type.description or "<no description>"}' does not support nested options.\n${
              builtins.concatStringsSep "\n" (lib.lists.naturalSort (concatMap (d:
                map (n: " - option(s) with prefix `${showOption (loc ++ [ n ])}' in module `${d._file}'")
                  (if isAttrs d.options then attrNames d.options else [ ])) others))}"
        else
          let
            subDecls = map (d:
              if isAttrs d.options && d.options ? _type then
                throw "In module ${d._file}: expected an option declaration at option path `${showOption loc}` but got an attribute set with type ${d.options._type}${
                  if d.options._type == "option-type"
                  then ". Did you mean to use `lib.mkOption { type = ...; }` around this type?"
                  else ""}"
              else d) ds;
            subDefs = concatMap (d: map (c: { inherit (d) file; config = c; }) (pushDownProperties d.value)) nDefs;
            sub = mergeLevel loc subDecls subDefs;
          in {
            option = sub.options;
            value = sub.config;
            unmatched = map (u: u // { prefix = [ name ] ++ u.prefix; }) sub.unmatched;
          })
        declsByName;
      undeclared = filter (n: !(declsByName ? ${n})) (attrNames defsByName);
    in {
      options = mapAttrs (n: r: r.option) results;
      config = mapAttrs (n: r: r.value) results;
      # By name (nested ones and those at this level together), each name's
      # in processing order; without definitions here there is nothing to
      # report, and no nested declaration needs to be looked at.
      unmatched =
        if defs == [ ] then [ ]
        else
          let
            byName = mapAttrs (n: r: r.unmatched) results // listToAttrs (map (n: {
              name = n;
              value = map (d: {
                inherit (d) file value;
                prefix = [ n ];
                candidates = attrNames declsByName;
              }) defsByName.${n};
            }) undeclared);
          in
          concatMap (n: byName.${n}) (attrNames byName);
    };

  # ------------------------------------------------------- collecting

  unifyModuleSyntax = file: key: m:
    let
      addMeta = c: if m ? meta then mkMerge [ c { meta = m.meta; } ] else c;
      addFreeform = c: if m ? freeformType then mkMerge [ c { _module.freeformType = m.freeformType; } ] else c;
      fileOf = if m ? _file then toString m._file else file;
      keyOf = if m ? key then toString m.key else key;
    in
    if m ? config || m ? options then
      let bad = removeAttrs m [ "_class" "_file" "key" "disabledModules" "imports" "options" "config" "meta" "freeformType" ]; in
      if bad != { } then
        throw "Module `${key}' has an unsupported attribute `${head (attrNames bad)}'. This is caused by introducing a top-level `config' or `options' attribute. Add configuration attributes immediately on the top level instead, or move all of them (namely: ${toString (attrNames bad)}) into the explicit `config' attribute."
      else {
        _file = fileOf;
        key = keyOf;
        _class = m._class or null;
        disabledModules = m.disabledModules or [ ];
        imports = m.imports or [ ];
        options = m.options or { };
        config = addFreeform (addMeta (m.config or { }));
      }
    else {
      _file = fileOf;
      key = keyOf;
      _class = m._class or null;
      disabledModules = m.disabledModules or [ ];
      imports = (m.require or [ ]) ++ (m.imports or [ ]);
      options = { };
      config = addFreeform (removeAttrs m [ "_class" "_file" "key" "disabledModules" "require" "imports" "freeformType" ]);
    };

  applyModuleArgs = key: f: args:
    let
      extra = mapAttrs (name: _:
        addErrorContext "while evaluating the module argument `${name}' in \"${key}\":"
          (args.${name} or args.config._module.args.${name}))
        (lib.trivial.functionArgs f);
    in f (args // extra);

  loadModule = args: file: key: m:
    if isFunction m then unifyModuleSyntax file key (applyModuleArgs key m args)
    else if isAttrs m then
      let t = m._type or "module"; in
      if t == "module" then unifyModuleSyntax file key m
      else if t == "if" || t == "override" then unifyModuleSyntax file key { config = m; }
      else throw ("Expected a module, but found a value of type ${lib.strings.escapeNixString t}, while trying to load a module into ${toString file}."
        + (if t == "configuration" then "\nA configuration is not meant to be imported into a module system evaluation; instead, import the modules that make up that configuration." else ""))
    else if isList m then
      throw "Module imports can't be nested lists. Perhaps you meant to remove one level of lists? Definitions: ${showDefs [ { inherit file; value = m; } ]}"
    else
      let
        p = toString m;
        imported = import m;
      in
      unifyModuleSyntax p p (if isFunction imported then applyModuleArgs p imported args else imported);

  collectModules = class: modulesPath: args: topModules:
    let
      node = file: parentKey: n: m:
        let
          loaded = loadModule args file "${parentKey}:anon-${toString n}" m;
          checked =
            if class != null && loaded._class != null && loaded._class != class then
              throw "The module `${loaded._file}` (class: ${lib.strings.escapeNixString loaded._class}) cannot be imported into a module evaluation that expects class ${lib.strings.escapeNixString class}."
            else loaded;
        in {
          key = loaded.key;
          module = checked;
          children = lib.lists.imap1 (node loaded._file loaded.key)
            (addErrorContext "while evaluating the imports of `${loaded._file}' (if you get an infinite recursion here, you probably reference `config' in `imports'; import modules unconditionally and use `mkIf' for their configuration instead)"
              loaded.imports);
        };
      roots = lib.lists.imap1 (node "<unknown-file>" "") topModules;
      everything = genericClosure { startSet = roots; operator = n: n.children; };
      moduleKey = file: m:
        if isString m && !(lib.strings.hasPrefix "/" m) then toString modulesPath + "/" + m
        else if lib.strings.isConvertibleWithToString m then
          if m ? key && toString m.key != toString m then
            throw "Module `${file}` contains a disabledModules item that is an attribute set that can be converted to a string (${toString m}) but also has a `.key` attribute (${toString m.key}) with a different value. This makes it ambiguous which module should be disabled."
          else toString m
        else if isAttrs m && m ? key then toString m.key
        else if isAttrs m then
          throw "Module `${file}` contains a disabledModules item that is an attribute set, presumably a module, that does not have a `key` attribute. This means that the module system doesn't have any means to identify the module that should be disabled. Make sure that you've put the correct value in disabledModules: a string path relative to modulesPath, a path value, or an attribute set with a `key` attribute."
        else
          throw "Each disabledModules item must be a path, string, or a attribute set with a key attribute, or a value supported by toString. However, one of the disabledModules items in `${toString file}` is none of that, but is of type ${typeOf m}.";
      disabledKeys = concatMap (n: map (moduleKey n.module._file) n.module.disabledModules) everything;
      disabled = listToAttrs (map (k: { name = k; value = true; }) disabledKeys);
      keep = n: !(disabled ? ${n.key});
      kept =
        if disabledKeys == [ ] then everything
        else genericClosure { startSet = filter keep roots; operator = n: filter keep n.children; };
      toGraph = n: {
        inherit (n) key;
        file = n.module._file;
        disabled = !(keep n);
        imports = map toGraph n.children;
      };
    in {
      modules = lib.lists.reverseList (map (n: n.module) kept);
      graph = map toGraph roots;
    };

  setDefaultModuleLocation = file: m: { _file = file; imports = [ m ]; };

  # ------------------------------------------------------- evaluation

  evalModules = evalModulesArgs@{ modules, prefix ? [ ], args ? { }, check ? true, specialArgs ? { }, class ? null }:
    let
      warnArgs = x:
        lib.trivial.warnIf (evalModulesArgs ? args) "The args argument to evalModules is deprecated. Please set config._module.args instead."
          (lib.trivial.warnIf (evalModulesArgs ? check) "The check argument to evalModules is deprecated. Please set config._module.check instead." x);

      internalModule = {
        _file = "lib/modules.nix";
        key = "lib/modules.nix";
        options._module = {
          args = mkOption {
            type = types.lazyAttrsOf types.raw;
            internal = true;
            description = "Additional arguments passed to each module, besides `lib`, `config`, `options` and `specialArgs`.";
          };
          check = mkOption {
            type = types.bool;
            internal = true;
            default = true;
            description = "Whether to check whether all option definitions have matching declarations.";
          };
          freeformType = mkOption {
            type = types.nullOr types.optionType;
            internal = true;
            default = null;
            description = "The type of definitions that match no declared option (freeform modules).";
          };
          specialArgs = mkOption {
            readOnly = true;
            internal = true;
            description = "The specialArgs given to evalModules.";
          };
        };
        config._module = {
          args = { inherit extendModules; moduleType = type; } // args;
          specialArgs = specialArgs;
        } // (if evalModulesArgs ? check then { check = mkDefault check; } else { });
      };

      moduleArgs = {
        inherit lib options config specialArgs;
        _class = class;
        _prefix = prefix;
      } // specialArgs;

      collected = collectModules class (specialArgs.modulesPath or "") moduleArgs
        (modules ++ [ internalModule ]);

      merged = mergeLevel prefix
        (map (m: { inherit (m) _file options; }) collected.modules)
        (concatMap (m: map (c: { file = m._file; config = c; }) (pushDownProperties m.config)) collected.modules);

      options = merged.options;
      declaredConfig = merged.config;
      freeformType = declaredConfig._module.freeformType;

      config =
        if freeformType == null then declaredConfig
        else
          let
            defs = map (d: { inherit (d) file; value = lib.attrsets.setAttrByPath d.prefix d.value; }) merged.unmatched;
            freeformConfig = if defs == [ ] then { } else freeformType.merge prefix defs;
          in lib.attrsets.recursiveUpdate freeformConfig declaredConfig;

      checkUnmatched =
        if declaredConfig._module.check && freeformType == null && merged.unmatched != [ ] then
          let
            first = head merged.unmatched;
            optText = showOption (prefix ++ first.prefix);
            defText = addErrorContext "while evaluating the error message for definitions for `${optText}', which is an option that does not exist"
              (addErrorContext "while evaluating a definition from `${first.file}'" (showDefs [ first ]));
            baseMsg = "The option `${optText}' does not exist. Definition values:${defText}";
            candidates =
              if length first.prefix == 1 then filter (n: n != "_module") first.candidates
              else first.candidates;
            parent = prefix ++ lib.lists.init first.prefix;
            suggestions = nearest (lib.lists.last first.prefix) candidates;
            shown = map (n: "`${showOption (parent ++ [ n ])}'") suggestions;
            suggestionText =
              if shown == [ ] then ""
              else if length shown == 1 then "\n\nDid you mean ${head shown}?"
              else "\n\nDid you mean ${builtins.concatStringsSep ", " (lib.lists.init shown)} or ${lib.lists.last shown}?";
            noOptions = attrNames options == [ "_module" ];
            hint =
              if !noOptions then ""
              else if prefix == [ ] then "\n\nIt seems as if you're trying to declare an option by placing it into `config' rather than `options'!"
              else "\n\nHowever there are no options defined in `${showOption prefix}'. Are you sure you've declared your options properly? This can happen if you e.g. declared your options in `types.submodule' under `config' rather than `options'.";
          in throw (baseMsg + hint + suggestionText)
        else null;

      checked = seq checkUnmatched;

      extendModules = extendArgs@{ modules ? [ ], specialArgs ? { }, prefix ? [ ] }:
        evalModules (evalModulesArgs // {
          modules = evalModulesArgs.modules ++ modules;
          specialArgs = evalModulesArgs.specialArgs or { } // specialArgs;
          prefix = extendArgs.prefix or evalModulesArgs.prefix or [ ];
        });

      type = types.submoduleWith { inherit modules specialArgs class; };

      result = warnArgs {
        _type = "configuration";
        options = checked options;
        config = checked (removeAttrs config [ "_module" ]);
        _module = checked config._module;
        inherit extendModules type class;
        graph = collected.graph;
      };
    in result;

  # The (up to 3) candidate names nearest to `name` (Levenshtein distance);
  # with 100 candidates or more only those within distance 2.
  nearest = name: candidates:
    let
      scored = map (c: { inherit c; d = lib.strings.levenshtein name c; }) candidates;
      usable = if length candidates < 100 then scored else filter (s: s.d <= 2) scored;
      sorted = sort (a: b: a.d < b.d) usable;
    in map (s: s.c) (lib.lists.take 3 sorted);

  # --------------------------------------------------------- aliases

  mkAliasDefinitions = mkAliasAndWrapDefinitions lib.trivial.id;
  mkAliasAndWrapDefinitions = wrap: option:
    mkAliasIfDef option (wrap (mkMerge option.definitions));
  mkAliasAndWrapDefsWithPriority = wrap: option:
    let prio = option.highestPrio or defaultOverridePriority; in
    mkAliasIfDef option (wrap (mkOverride prio (mkMerge option.definitions)));
  mkAliasIfDef = option: mkIf (isOption option && option.isDefined);

  mkDerivedConfig = opt: f:
    mkOverride (opt.highestPrio or defaultOverridePriority) (f opt.value);

  mapDefinitionValue = f: def: def // { value = f def.value; };

  # Per attribute of an attrsOf option: its merged value and winning priority.
  mergeAttrDefinitionsWithPrio = opt:
    let
      byAttr = zipAttrsWith (n: concatLists) (map (def:
        mapAttrs (n: v: [ (def // { value = v; }) ]) def.value) opt.definitionsWithLocations);
    in
    assert opt.type.name == "attrsOf" || opt.type.name == "lazyAttrsOf";
    mapAttrs (n: defs:
      let m = mergeDefinitions (opt.loc ++ [ n ]) opt.type.nestedTypes.elemType defs; in {
        value = m.mergedValue;
        inherit (m.defsFinal') highestPrio;
      }) byAttr;

  importApply = modulePath: staticArg:
    lib.modules.setDefaultModuleLocation modulePath (import modulePath staticArg);

  # ----------------------------------------------- option-renaming modules

  # A module declaring an (invisible) option at `from` whose definitions are
  # forwarded, with their priority, to the option at `to`; reading `from`
  # reads `to` through `use`; with `warn`, defining `from` adds a warning.
  doRename = { from, to, visible ? false, warn ? false, use ? lib.trivial.id, withPriority ? true, condition ? true }:
    { config, options, ... }:
    let
      inherit (lib.attrsets) setAttrByPath attrByPath getAttrFromPath;
      old = getAttrFromPath from options;
      newOption = attrByPath to { } options;
      readNew = attrByPath to
        (abort "Renaming error: option `${showOption to}' does not exist.") config;
      forwarded =
        if withPriority
        then mkOverride (old.highestPrio or defaultOverridePriority) (mkMerge old.definitions)
        else mkMerge old.definitions;
      renameWarning =
        "The option `${showOption from}' defined in ${showFiles old.files} has been renamed to `${showOption to}'.";
    in {
      options = setAttrByPath from (mkOption {
        inherit visible;
        description = "Alias of {option}`${showOption to}`.";
        apply = _: use readNew;
        type = newOption.type or (types.submodule { });
      });
      config = mkIf condition (mkMerge [
        (if options ? warnings
          then { warnings = if warn && old.isDefined then [ renameWarning ] else [ ]; }
          else { })
        (mkIf (isOption old && old.isDefined) (setAttrByPath to forwarded))
      ]);
    };

  obsoleteNotice = from: to:
    "Obsolete option `${showOption from}' is used. It was renamed to `${showOption to}'.";

  mkRenamedOptionModule = from: to: doRename {
    inherit from to;
    warn = true;
    use = builtins.trace (obsoleteNotice from to);
  };

  mkRenamedOptionModuleWith = { from, to, sinceRelease }:
    let stale = lib.trivial.isInOldestRelease sinceRelease; in
    doRename {
      inherit from to;
      warn = stale;
      use = lib.trivial.warnIf stale (obsoleteNotice from to);
    };

  mkAliasOptionModule = from: to: doRename {
    inherit from to;
    visible = true;
  };
  mkAliasOptionModuleMD = mkAliasOptionModule;

  # An option that may no longer be set: reading it throws, defining it
  # fails the `assertions` check with `replacementInstructions`.
  mkRemovedOptionModule = optionName: replacementInstructions:
    { options, ... }:
    let old = lib.attrsets.getAttrFromPath optionName options; in {
      options = lib.attrsets.setAttrByPath optionName (mkOption {
        visible = false;
        apply = _: throw "The option `${showOption optionName}' can no longer be used since it's been removed. ${replacementInstructions}";
      });
      config.assertions = [ {
        assertion = !old.isDefined;
        message = "The option definition `${showOption optionName}' in ${showFiles old.files} no longer has any effect; please remove it.\n${replacementInstructions}\n";
      } ];
    };

  # Several old options (default: a marker meaning "not set") feed one new
  # option through `mergeFn config`, with a warning for each old one set.
  mkMergedOptionModule = from: to: mergeFn:
    { config, options, ... }:
    let
      inherit (lib.attrsets) setAttrByPath getAttrFromPath;
      unset = "_mkMergedOptionModule";
      isSet = path: getAttrFromPath path config != unset;
      notice = path:
        "The option `${showOption path}' defined in ${showFiles (getAttrFromPath path options).files} has been changed to `${showOption to}' that has a different type. Please read `${showOption to}' documentation and update your configuration accordingly.";
    in {
      options = foldl' lib.attrsets.recursiveUpdate { } (map (path:
        setAttrByPath path (mkOption { visible = false; default = unset; })) from);
      config = {
        warnings = map notice (filter isSet from);
      } // setAttrByPath to (mkMerge (if any isSet from then [ (mergeFn config) ] else [ ]));
    };

  mkChangedOptionModule = from: to: changeFn:
    mkMergedOptionModule [ from ] to changeFn;
in
{
  inherit evalModules collectModules unifyModuleSyntax setDefaultModuleLocation
    mergeDefinitions evalOptionValue mergeOptionDecls fixupOptionType
    mkIf mkAssert mkMerge mkDefinition mkOverride mkOptionDefault mkDefault
    mkImageMediaOverride mkForce mkVMOverride mkOrder mkBefore mkAfter mkFixStrictness
    pushDownProperties dischargeProperties filterOverrides filterOverrides'
    sortProperties defaultOverridePriority defaultOrderPriority
    mkAliasDefinitions mkAliasAndWrapDefinitions mkAliasAndWrapDefsWithPriority
    mkAliasIfDef mkDerivedConfig mapDefinitionValue mergeAttrDefinitionsWithPrio importApply
    doRename mkRenamedOptionModule mkRenamedOptionModuleWith mkAliasOptionModule
    mkAliasOptionModuleMD mkRemovedOptionModule mkMergedOptionModule
    mkChangedOptionModule;
  defaultPriority = defaultOverridePriority;
  mergeModules = prefix: modules:
    mergeLevel prefix
      (map (m: { inherit (m) _file options; }) modules)
      (concatMap (m: map (c: { file = m._file; config = c; }) (pushDownProperties m.config)) modules);
}
