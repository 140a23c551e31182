# Small general-purpose functions: combinators, booleans, numbers, warnings,
# function arguments.
{ lib }:
let
  inherit (builtins) isAttrs foldl' trace;
in
rec {
  id = x: x;
  const = x: _: x;
  flip = f: a: b: f b a;

  # pipe x [ f g ] == g (f x)
  pipe = foldl' (acc: f: f acc);

  concat = a: b: a ++ b;
  or = a: b: a || b;
  and = a: b: a && b;
  xor = a: b: a != b;
  bitAnd = builtins.bitAnd;
  bitOr = builtins.bitOr;
  bitXor = builtins.bitXor;
  bitNot = builtins.sub (-1);
  boolToString = b: if b then "true" else "false";
  boolToYesNo = b: if b then "yes" else "no";
  mergeAttrs = a: b: a // b;
  defaultTo = d: x: if x == null then d else x;
  mapNullable = f: x: if x == null then null else f x;

  max = a: b: if a > b then a else b;
  min = a: b: if a < b then a else b;
  mod = base: n: base - n * (base / n);
  compare = a: b: if a < b then -1 else if a > b then 1 else 0;
  splitByAndCompare = p: yes: no: a: b:
    if p a then (if p b then yes a b else -1)
    else if p b then 1 else no a b;

  seq = builtins.seq;
  deepSeq = builtins.deepSeq;
  inherit (builtins) pathExists readFile isBool isInt isFloat isString isList isPath;
  inherit isAttrs;
  isFunction = f: builtins.isFunction f || (f ? __functor && isFunction (f.__functor f));

  importJSON = path: builtins.fromJSON (builtins.readFile path);
  importTOML = path: builtins.fromTOML (builtins.readFile path);

  version = "25.11pre-pynix";
  release = "25.11";
  codeName = "pynix";
  oldestSupportedRelease = 2411;
  isInOldestRelease = release: release <= oldestSupportedRelease;
  oldestSupportedReleaseIsAtLeast = release: release <= oldestSupportedRelease;
  inNixShell = builtins.getEnv "IN_NIX_SHELL" != "";
  inPureEvalMode = !(builtins ? currentSystem);

  # Warnings: `evaluation warning: <msg>` on stderr, then the value.
  warn =
    if builtins ? warn then builtins.warn
    else msg: v: trace "evaluation warning: ${msg}" v;
  warnIf = cond: msg: if cond then warn msg else id;
  warnIfNot = cond: msg: if cond then id else warn msg;
  info = msg: trace "INFO: ${msg}";
  showWarnings = warnings: res: lib.lists.foldr (w: x: warn w x) res warnings;

  throwIf = cond: msg: if cond then throw msg else id;
  throwIfNot = cond: msg: if cond then id else throw msg;
  checkListOfEnum = msg: valid: given:
    let unexpected = lib.lists.subtractLists valid given; in
    throwIfNot (unexpected == [ ])
      "${msg}: ${builtins.concatStringsSep ", " (map builtins.toString unexpected)} unexpected; valid ones: ${builtins.concatStringsSep ", " (map builtins.toString valid)}";

  # Function arguments that survive wrapping: a functor set carrying
  # `__functionArgs`.
  setFunctionArgs = f: args: {
    __functor = self: f;
    __functionArgs = args;
  };
  functionArgs = f:
    if f ? __functor then f.__functionArgs or (functionArgs (f.__functor f))
    else builtins.functionArgs f;
  mirrorFunctionArgs = f: g: setFunctionArgs g (functionArgs f);
  toFunction = v: if isFunction v then v else _: v;

  fromHexString = s: (builtins.fromTOML "v=0x${s}").v;
  toHexString = lib.strings.toHexString;
}
