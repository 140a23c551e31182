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
      metaLib = {
        inherit (customisation) getExe getExe';
        addMetaAttrs = newAttrs: drv: drv // { meta = (drv.meta or { }) // newAttrs; };
        lowPrio = drv: drv // { meta = (drv.meta or { }) // { priority = 10; }; };
        hiPrio = drv: drv // { meta = (drv.meta or { }) // { priority = -10; }; };
      };
    in
    trivial // lists // attrsets // strings // fixedPoints // stringsWithDeps
    // debug // customisation // {
      inherit customisation trivial lists attrsets strings fixedPoints stringsWithDeps asserts
        generators options types modules debug;
      inherit (builtins) toString typeOf baseNameOf dirOf;
      fileContents = file: strings.removeSuffix "\n" (builtins.readFile file);
      pathIsDirectory = p: builtins.pathExists p && (builtins.readDir (dirOf p)).${baseNameOf p} or null == "directory";
      cleanSource = src: src;
      fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
      fakeSha256 = "0000000000000000000000000000000000000000000000000000";
      versions = rec {
        splitVersion = builtins.splitVersion;
        major = v: builtins.elemAt (splitVersion v) 0;
        minor = v: builtins.elemAt (splitVersion v) 1;
        patch = v: builtins.elemAt (splitVersion v) 2;
        majorMinor = v: builtins.concatStringsSep "." (lists.take 2 (splitVersion v));
        pad = n: version:
          let parts = splitVersion version; in
          builtins.concatStringsSep "." (parts ++ lists.replicate (n - builtins.length parts) "0");
      };
      meta = metaLib;
      inherit (metaLib) addMetaAttrs lowPrio hiPrio;

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
