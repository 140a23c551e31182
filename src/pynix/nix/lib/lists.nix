# List functions.
{ lib }:
let
  inherit (builtins)
    length head tail elemAt filter foldl' genList concatLists concatMap sort elem
    isList;
in
rec {
  inherit (builtins) head tail length filter elem elemAt genList concatLists
    concatMap sort all any partition groupBy zipAttrsWith;
  map = builtins.map;
  foldl' = builtins.foldl';

  singleton = x: [ x ];
  forEach = xs: f: map f xs;

  foldr = op: nul: list:
    let
      n = length list;
      go = i: if i == n then nul else op (elemAt list i) (go (i + 1));
    in go 0;
  fold = foldr;
  foldl = op: nul: list:
    let go = i: if i < 0 then nul else op (go (i - 1)) (elemAt list i);
    in go (length list - 1);

  imap0 = f: list: genList (i: f i (elemAt list i)) (length list);
  imap1 = f: list: genList (i: f (i + 1) (elemAt list i)) (length list);
  ifilter0 = pred: list:
    map (i: elemAt list i) (filter (i: pred i (elemAt list i)) (range 0 (length list - 1)));

  flatten = x: if isList x then concatMap flatten x else [ x ];
  remove = e: filter (x: x != e);
  findSingle = pred: none: multiple: list:
    let found = filter pred list; n = length found; in
    if n == 0 then none else if n > 1 then multiple else head found;
  findFirst = pred: default: list:
    let found = filter pred list; in if found == [ ] then default else head found;
  findFirstIndex = pred: default: list:
    let
      n = length list;
      go = i: if i == n then default else if pred (elemAt list i) then i else go (i + 1);
    in go 0;
  count = pred: foldl' (c: x: if pred x then c + 1 else c) 0;
  optional = cond: x: if cond then [ x ] else [ ];
  optionals = cond: xs: if cond then xs else [ ];
  toList = x: if isList x then x else [ x ];
  range = first: last:
    if first > last then [ ] else genList (i: first + i) (last - first + 1);
  replicate = n: x: genList (_: x) n;
  partition' = builtins.partition;
  groupBy' = op: nul: pred: list:
    builtins.mapAttrs (_: foldl' op nul) (builtins.groupBy pred list);

  zipListsWith = f: a: b:
    genList (i: f (elemAt a i) (elemAt b i)) (lib.trivial.min (length a) (length b));
  zipLists = zipListsWith (fst: snd: { inherit fst snd; });

  reverseList = xs: let n = length xs; in genList (i: elemAt xs (n - i - 1)) n;

  # Depth-first walk from the head of `list` towards an element nothing comes
  # before: { minimal; visited; rest; }, or with `stopOnCycles`, when the walk
  # meets an element already on its way: { cycle; loops; visited; rest; }.
  listDfs = stopOnCycles: before: list:
    let
      go = here: path: todo:
        let
          back = filter (x: before x here) path;
          preds = partition (x: before x here) todo;
        in
        if stopOnCycles && back != [ ] then { cycle = here; loops = back; visited = path; rest = todo; }
        else if preds.right == [ ] then { minimal = here; visited = path; rest = todo; }
        else go (head preds.right) ([ here ] ++ path) (tail preds.right ++ preds.wrong);
    in
    go (head list) [ ] (tail list);

  # Sorted so that `before a b` puts a first: { result; }, or { cycle; loops; }.
  toposort = before: list:
    if length list < 2 then { result = list; }
    else
      let
        step = listDfs true before list;
        others = toposort before (step.visited ++ step.rest);
      in
      if step ? cycle then { cycle = reverseList ([ step.cycle ] ++ step.visited); inherit (step) loops; }
      else if others ? cycle then others
      else { result = [ step.minimal ] ++ others.result; };

  sortOn = f: list:
    map (p: p.v) (sort (a: b: a.k < b.k) (map (v: { inherit v; k = f v; }) list));

  compareLists = cmp: a: b:
    if a == [ ] then (if b == [ ] then 0 else -1)
    else if b == [ ] then 1
    else let r = cmp (head a) (head b); in
      if r == 0 then compareLists cmp (tail a) (tail b) else r;

  naturalSort = sort (a: b: a < b);

  take = n: list: sublist 0 n list;
  drop = n: list: sublist n (length list) list;
  takeEnd = n: xs: drop (lib.trivial.max 0 (length xs - n)) xs;
  dropEnd = n: xs: take (lib.trivial.max 0 (length xs - n)) xs;
  sublist = start: count: list:
    let
      len = length list;
      n = if start >= len then 0
        else if start + count > len then len - start
        else count;
    in genList (i: elemAt list (start + i)) (lib.trivial.max 0 n);
  hasPrefix = prefix: list: take (length prefix) list == prefix;
  removePrefix = prefix: list:
    if hasPrefix prefix list then drop (length prefix) list
    else throw "lib.lists.removePrefix: First argument is not a list prefix of the second argument";
  commonPrefix = a: b:
    let
      n = lib.trivial.min (length a) (length b);
      go = i: if i < n && elemAt a i == elemAt b i then go (i + 1) else i;
    in take (go 0) a;

  last = list:
    assert lib.assertMsg (list != [ ]) "lists.last: list must not be empty!";
    elemAt list (length list - 1);
  init = list:
    assert lib.assertMsg (list != [ ]) "lists.init: list must not be empty!";
    take (length list - 1) list;

  crossLists = f: foldl' (fs: args: concatMap (f: map f args) fs) [ f ];
  cartesianProduct = attrsOfLists:
    foldl'
      (acc: name: concatMap (set: map (v: set // { ${name} = v; }) attrsOfLists.${name}) acc)
      [ { } ]
      (builtins.attrNames attrsOfLists);
  mapCartesianProduct = f: attrsOfLists: map f (cartesianProduct attrsOfLists);

  unique = foldl' (acc: e: if elem e acc then acc else acc ++ [ e ]) [ ];
  uniqueStrings = list: builtins.attrNames (builtins.groupBy lib.trivial.id list);
  allUnique = list: length (unique list) == length list;
  intersectLists = e: filter (x: elem x e);
  subtractLists = e: filter (x: !(elem x e));
  mutuallyExclusive = a: b: length a == 0 || !(any (x: elem x a) b);

}
