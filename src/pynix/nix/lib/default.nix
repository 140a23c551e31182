# pynix's own `lib`: the general helpers (lists, attribute sets, strings, fixed
# points, ...) and the NixOS-style module system (options, types, modules), with
# the names and meanings nixpkgs' `lib` gives them, so that existing modules work.
#
#   let lib = import <pynix/lib>; in lib.evalModules { modules = [ ... ]; }
let
  lib = makeLib lib;

  makeLib = self:
    let
      load = file: import file { lib = self; };
      trivial = load ./trivial.nix;
      lists = load ./lists.nix;
      attrsets = load ./attrsets.nix;
      strings = load ./strings.nix;
      fixedPoints = load ./fixed-points.nix;
      stringsWithDeps = load ./strings-with-deps.nix;
      asserts = load ./asserts.nix;
      generators = load ./generators.nix;
      options = load ./options.nix;
      types = load ./types.nix;
      modules = load ./modules.nix;
      debug = load ./debug.nix;
      customisation = load ./customisation.nix;
    in
    trivial // lists // attrsets // strings // fixedPoints // stringsWithDeps
    // debug // customisation // {
      inherit customisation trivial lists attrsets strings fixedPoints stringsWithDeps asserts
        generators options types modules debug;
      inherit (builtins) toString typeOf baseNameOf dirOf;
      fileContents = file: strings.removeSuffix "\n" (builtins.readFile file);
      pathIsDirectory = p: builtins.pathExists p && (builtins.readDir (dirOf p)).${baseNameOf p} or null == "directory";
      cleanSource = src: src;

      inherit (asserts) assertMsg assertOneOf;
      inherit (options)
        mkOption mkEnableOption mkPackageOption mkSinkUndeclaredOptions isOption
        literalExpression literalMD literalExample showOption showFiles showDefs
        mergeEqualOption mergeOneOption mergeUniqueOption mergeDefaultOption
        getValues getFiles unknownModule optionAttrSetToDocList mkPackageOptionMD;
      inherit (types) isType mkOptionType;
      inherit (modules)
        evalModules setDefaultModuleLocation evalOptionValue mergeDefinitions
        fixupOptionType mkIf mkMerge mkOverride mkOptionDefault mkDefault
        mkImageMediaOverride mkForce mkVMOverride mkOrder mkBefore mkAfter
        mkDefinition mkAssert mkAliasDefinitions mkAliasAndWrapDefinitions
        mkDerivedConfig sortProperties filterOverrides filterOverrides'
        dischargeProperties pushDownProperties mkFixStrictness
        mkRenamedOptionModule mkRenamedOptionModuleWith mkAliasOptionModule
        mkAliasOptionModuleMD mkRemovedOptionModule mkChangedOptionModule
        mkMergedOptionModule doRename importApply defaultOverridePriority
        defaultOrderPriority defaultPriority;
    };
in
lib
