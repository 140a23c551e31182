# Attribute set functions.
{ lib }:
let
  inherit (builtins)
    attrNames attrValues hasAttr getAttr isAttrs length head tail elemAt filter
    listToAttrs mapAttrs foldl' concatMap genList;
in
rec {
  inherit (builtins) attrNames attrValues hasAttr getAttr listToAttrs mapAttrs
    removeAttrs intersectAttrs catAttrs zipAttrsWith isAttrs;

  attrByPath = attrPath: default: set:
    let
      n = length attrPath;
      go = i: s:
        if i == n then s
        else let a = elemAt attrPath i; in
          if isAttrs s && s ? ${a} then go (i + 1) s.${a} else default;
    in go 0 set;

  hasAttrByPath = attrPath: set:
    let
      n = length attrPath;
      go = i: s:
        if i == n then true
        else let a = elemAt attrPath i; in
          isAttrs s && s ? ${a} && go (i + 1) s.${a};
    in go 0 set;

  longestValidPathPrefix = attrPath: v:
    let
      n = length attrPath;
      go = i: s:
        if i == n then i
        else let a = elemAt attrPath i; in
          if isAttrs s && s ? ${a} then go (i + 1) s.${a} else i;
    in lib.lists.take (go 0 v) attrPath;

  setAttrByPath = attrPath: value:
    let
      n = length attrPath;
      go = i: if i == n then value else { ${elemAt attrPath i} = go (i + 1); };
    in go 0;

  getAttrFromPath = attrPath: set:
    attrByPath attrPath
      (abort ("cannot find attribute `" + builtins.concatStringsSep "." attrPath + "'"))
      set;

  concatMapAttrs = f: v: foldl' (a: b: a // b) { } (attrValues (mapAttrs f v));

  updateManyAttrsByPath = updates: value:
    foldl'
      (acc: u:
        let
          go = path: v:
            if path == [ ] then u.update v
            else let n = head path; in
              (if isAttrs v then v else { }) // {
                ${n} = go (tail path) (if isAttrs v && v ? ${n} then v.${n} else null);
              };
        in go u.path acc)
      value updates;

  attrVals = nameList: set: map (x: set.${x}) nameList;
  getAttrs = names: attrs: lib.genAttrs names (name: attrs.${name});
  genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
  genAttrs' = xs: f: listToAttrs (map f xs);

  filterAttrs = pred: set:
    removeAttrs set (filter (name: !pred name set.${name}) (attrNames set));

  filterAttrsRecursive = pred: set:
    listToAttrs (concatMap (name:
      let v = set.${name}; in
      if pred name v then [ {
        inherit name;
        value = if isAttrs v then filterAttrsRecursive pred v else v;
      } ] else [ ]) (attrNames set));

  foldlAttrs = f: init: set:
    foldl' (acc: name: f acc name set.${name}) init (attrNames set);

  foldAttrs = op: nul: list_of_attrs:
    foldl' (acc: set:
      acc // mapAttrs (name: v: op v (acc.${name} or nul)) set)
      { } (lib.lists.reverseList list_of_attrs);

  collect = pred: attrs:
    if pred attrs then [ attrs ]
    else if isAttrs attrs then concatMap (collect pred) (attrValues attrs)
    else [ ];

  nameValuePair = name: value: { inherit name value; };

  mapAttrs' = f: set: listToAttrs (map (attr: f attr set.${attr}) (attrNames set));
  mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (attrNames attrs);
  attrsToList = mapAttrsToList nameValuePair;

  mapAttrsRecursive = f: set: mapAttrsRecursiveCond (_: true) f set;
  mapAttrsRecursiveCond = cond: f: set:
    let
      go = path: mapAttrs (name: value:
        if isAttrs value && cond value then go (path ++ [ name ]) value
        else f (path ++ [ name ]) value);
    in go [ ] set;

  mapAttrsToListRecursive = f: mapAttrsToListRecursiveCond (_: _: true) f;
  mapAttrsToListRecursiveCond = cond: f: set:
    let
      go = path: s: concatMap (name:
        let v = s.${name}; p = path ++ [ name ]; in
        if isAttrs v && cond p v then go p v else [ (f p v) ]) (attrNames s);
    in go [ ] set;

  mapAttrsFlatten = mapAttrsToList;

  cartesianProductOfSets = lib.lists.cartesianProduct;

  isDerivation = value: value.type or null == "derivation";

  toDerivation = path:
    let p = builtins.storePath path; in {
      type = "derivation";
      name = builtins.unsafeDiscardStringContext (builtins.substring 33 (-1) (baseNameOf p));
      outPath = p;
      outputs = [ "out" ];
      out = toDerivation path;
      outputName = "out";
      drvPath = throw "toDerivation: no drvPath for ${path}";
    };

  optionalAttrs = cond: as: if cond then as else { };

  zipAttrsWithNames = names: f: sets:
    listToAttrs (map (name: {
      inherit name;
      value = f name (builtins.catAttrs name sets);
    }) names);
  zipAttrs = builtins.zipAttrsWith (_: v: v);
  zipWithNames = zipAttrsWithNames;

  mergeAttrsList = list: foldl' (a: b: a // b) { } list;

  recursiveUpdateUntil = pred: lhs: rhs:
    let
      go = path: l: r:
        l // mapAttrs (name: rv:
          let p = path ++ [ name ]; in
          if l ? ${name} && isAttrs l.${name} && isAttrs rv && !(pred p l.${name} rv)
          then go p l.${name} rv
          else rv) r;
    in go [ ] lhs rhs;

  recursiveUpdate = lhs: rhs:
    recursiveUpdateUntil (path: lhs: rhs: !(isAttrs lhs && isAttrs rhs)) lhs rhs;

  matchAttrs = pattern: attrs:
    builtins.all (name:
      let p = pattern.${name}; in
      attrs ? ${name} && (
        if isAttrs p then isAttrs attrs.${name} && matchAttrs p attrs.${name}
        else p == attrs.${name})) (attrNames pattern);

  overrideExisting = old: new: mapAttrs (name: value: new.${name} or value) old;

  showAttrPath = path:
    if path == [ ] then "<root attribute path>"
    else builtins.concatStringsSep "." (map lib.strings.escapeNixIdentifier path);

  getOutput = output: pkg:
    if !pkg ? outputSpecified || !pkg.outputSpecified then pkg.${output} or pkg.out or pkg
    else pkg;
  getBin = getOutput "bin";
  getLib = getOutput "lib";
  getDev = getOutput "dev";
  getMan = getOutput "man";

  chooseDevOutputs = map getDev;

  recurseIntoAttrs = attrs: attrs // { recurseForDerivations = true; };
  dontRecurseIntoAttrs = attrs: attrs // { recurseForDerivations = false; };

  unionOfDisjoint = x: y:
    let
      common = builtins.intersectAttrs x y;
      collisions = attrNames common;
    in
    if collisions == [ ] then x // y
    else throw "unionOfDisjoint: collision on ${builtins.concatStringsSep ", " collisions}";

}
