# A small helper library for the package collection only (not the general
# `lib` of <pynix/lib>): fixed points and overlays, overridable functions,
# derivation helpers, licenses and platforms.
let
  inherit (builtins)
    attrNames concatStringsSep elem filter foldl' functionArgs genList hasAttr
    intersectAttrs isAttrs isFunction isList isString length listToAttrs map
    removeAttrs replaceStrings stringLength substring;

  lib = rec {
    inherit (builtins) concatStringsSep filter foldl' map elem isAttrs isList
      isFunction isString attrNames attrValues hasAttr getAttr listToAttrs
      mapAttrs removeAttrs functionArgs intersectAttrs genList length head tail
      concatLists toString trace seq deepSeq;

    id = x: x;
    const = x: _: x;
    flip = f: a: b: f b a;

    # -- fixed points and extensions ------------------------------------------

    fix = f: let x = f x; in x;

    # The fixed point of `rattrs` extended by `f final prev`.
    extends = f: rattrs: final:
      let prev = rattrs final; in prev // f final prev;

    composeExtensions = f: g: final: prev:
      let
        fApplied = f final prev;
        prev' = prev // fApplied;
      in fApplied // g final prev';

    # (the step is a two-argument lambda on purpose: pynix's foldl' calls the
    # curried composeExtensions with two arguments at once otherwise)
    composeManyExtensions = foldl' (acc: ext: composeExtensions acc ext) (_: _: { });

    # -- lists and attribute sets ------------------------------------------------

    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalString = cond: s: if cond then s else "";
    optionalAttrs = cond: as: if cond then as else { };
    toList = x: if isList x then x else [ x ];
    flatten = x: if isList x then builtins.concatMap flatten x else [ x ];
    any = builtins.any;
    all = builtins.all;
    unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
    concatMap = builtins.concatMap;
    reverseList = xs: let n = length xs; in genList (i: builtins.elemAt xs (n - i - 1)) n;
    concatMapStrings = f: xs: concatStringsSep "" (map f xs);
    concatMapStringsSep = sep: f: xs: concatStringsSep sep (map f xs);
    filterAttrs = pred: set:
      listToAttrs (builtins.concatMap
        (name: let v = set.${name}; in if pred name v then [ { inherit name; value = v; } ] else [ ])
        (attrNames set));
    mapAttrsToList = f: set: map (name: f name set.${name}) (attrNames set);
    nameValuePair = name: value: { inherit name value; };
    genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
    attrByPath = path: default: set:
      if path == [ ] then set
      else let n = builtins.head path; in
        if isAttrs set && set ? ${n} then attrByPath (builtins.tail path) default set.${n}
        else default;

    # -- strings -------------------------------------------------------------------

    hasPrefix = pre: s: substring 0 (stringLength pre) s == pre;
    hasSuffix = suf: s:
      let ls = stringLength s; lf = stringLength suf; in
      lf <= ls && substring (ls - lf) lf s == suf;
    removePrefix = pre: s:
      if hasPrefix pre s then substring (stringLength pre) (stringLength s) s else s;
    escapeShellArg = s: "'${replaceStrings [ "'" ] [ "'\\''" ] (toString s)}'";
    escapeShellArgs = xs: concatStringsSep " " (map escapeShellArg xs);
    makeSearchPath = sub: paths:
      concatStringsSep ":" (map (p: "${p}/${sub}") (filter (p: p != null) paths));
    makeBinPath = paths: makeSearchPath "bin" (map getBin paths);
    makeLibraryPath = paths: makeSearchPath "lib" (map getLib paths);

    # -- derivations -----------------------------------------------------------------

    isDerivation = x: isAttrs x && (x.type or null) == "derivation";
    getOutput = output: pkg:
      if isAttrs pkg && !(pkg.outputSpecified or false) then pkg.${output} or pkg.out or pkg
      else pkg;
    getBin = getOutput "bin";
    getLib = getOutput "lib";
    getDev = getOutput "dev";
    getName = x: x.pname or (builtins.parseDrvName x.name).name;
    getVersion = x: x.version or (builtins.parseDrvName x.name).version;

    # `drv` with `passthru` added, whose outputs (and paths) are only
    # available once `valid` evaluates (to true; otherwise it throws).
    extendDerivation = valid: passthru: drv:
      let
        outputs = drv.outputs or [ "out" ];
        guard = x: builtins.seq valid x;
        common = drv // outputAttrs // passthru // {
          all = map (o: o.value) outputList;
        };
        outputList = map (name: {
          inherit name;
          value = common // {
            inherit (drv.${name}) type outputName;
            outputSpecified = true;
            drvPath = guard drv.${name}.drvPath;
            outPath = guard drv.${name}.outPath;
          };
        }) outputs;
        outputAttrs = listToAttrs outputList;
      in
      common // {
        drvPath = guard drv.drvPath;
        outPath = guard drv.outPath;
      };

    # -- overriding --------------------------------------------------------------------

    # `f args` with `override` (new arguments, or a function of the old ones)
    # and an `overrideAttrs` whose changes survive a later `override`.
    makeOverridable = f: origArgs:
      let
        result = f origArgs;
        overrideWith = newArgs:
          origArgs // (if isFunction newArgs then newArgs origArgs else newArgs);
        # the same result function, post-processed by `g`
        overrideResult = g: makeOverridable (args: g (f args)) origArgs;
      in
      if isAttrs result then
        result // {
          override = newArgs: makeOverridable f (overrideWith newArgs);
        } // optionalAttrs (result ? overrideAttrs) {
          overrideAttrs = fdrv: overrideResult (x: x.overrideAttrs fdrv);
        }
      else result;

    # `callPackage` over the attribute set `autoArgs`: a function (or a file
    # holding one) gets the arguments it names from `autoArgs`, `args` win.
    callPackageWith = autoArgs: fn: args:
      let
        f = if isFunction fn then fn else import fn;
        fargs = functionArgs f;
        allArgs = intersectAttrs fargs autoArgs // args;
        missing = filter (n: !fargs.${n} && !(allArgs ? ${n})) (attrNames fargs);
        where = if isFunction fn then "a function" else toString fn;
      in
      if missing != [ ] then
        throw "callPackage: ${where} needs argument '${builtins.head missing}', which is neither in the package set nor given explicitly"
      else makeOverridable f allArgs;

    # -- meta --------------------------------------------------------------------------

    licenses = import ./licenses.nix;

    platforms = rec {
      linux = [ "x86_64-linux" "aarch64-linux" "i686-linux" "armv7l-linux" "riscv64-linux" ];
      darwin = [ "x86_64-darwin" "aarch64-darwin" ];
      unix = linux ++ darwin;
      all = unix;
      x86_64 = [ "x86_64-linux" "x86_64-darwin" ];
    };

    maintainers = { };
  };
in
lib
