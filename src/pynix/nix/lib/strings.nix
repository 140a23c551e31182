# String functions.
{ lib }:
let
  inherit (builtins)
    stringLength substring concatStringsSep replaceStrings filter isList isString
    length elemAt genList split match head tail toJSON;
in
rec {
  inherit (builtins) stringLength substring concatStringsSep replaceStrings split
    match hasContext unsafeDiscardStringContext toString;

  concatStrings = concatStringsSep "";
  concatMapStrings = f: list: concatStrings (map f list);
  concatImapStrings = f: list: concatStrings (lib.lists.imap1 f list);
  concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
  concatImapStringsSep = sep: f: list: concatStringsSep sep (lib.lists.imap1 f list);
  concatLines = list: concatStrings (map (s: s + "\n") list);
  intersperse = separator: list:
    if list == [ ] || length list == 1 then list
    else tail (builtins.concatMap (x: [ separator x ]) list);
  join = concatStringsSep;

  optionalString = cond: string: if cond then string else "";

  hasPrefix = pref: str: substring 0 (stringLength pref) str == pref;
  hasSuffix = suffix: content:
    let
      lenContent = stringLength content;
      lenSuffix = stringLength suffix;
    in
    lenContent >= lenSuffix && substring (lenContent - lenSuffix) lenContent content == suffix;
  hasInfix = infix: content:
    builtins.match ".*${escapeRegex infix}.*" "${content}" != null;

  removePrefix = prefix: str:
    let n = stringLength prefix; in
    if substring 0 n str == prefix then substring n (-1) str else str;
  removeSuffix = suffix: str:
    let
      sLen = stringLength str;
      n = stringLength suffix;
    in
    if n <= sLen && substring (sLen - n) n str == suffix then substring 0 (sLen - n) str else str;

  stringToCharacters = s: genList (p: substring p 1 s) (stringLength s);
  stringAsChars = f: s: concatMapStrings f (stringToCharacters s);

  lowerChars = stringToCharacters "abcdefghijklmnopqrstuvwxyz";
  upperChars = stringToCharacters "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  toLower = replaceStrings upperChars lowerChars;
  toUpper = replaceStrings lowerChars upperChars;
  toSentenceCase = str:
    if str == "" then "" else toUpper (substring 0 1 str) + toLower (substring 1 (-1) str);

  escape = list: replaceStrings list (map (c: "\\${c}") list);
  escapeC = list: replaceStrings list (map (c: "\\x${lib.strings.fixedWidthString 2 "0" (toLower (toHexString (charToInt c)))}") list);
  escapeRegex = escape (stringToCharacters "\\[{()^$?*+|.");
  escapeNixString = s: escape [ "$" ] (toJSON s);
  escapeNixIdentifier = s:
    if match "[a-zA-Z_][a-zA-Z0-9_'-]*" s != null then s else escapeNixString s;
  escapeXML = replaceStrings [ "\"" "'" "<" ">" "&" ] [ "&quot;" "&apos;" "&lt;" "&gt;" "&amp;" ];

  escapeShellArg = arg:
    let s = toString arg; in
    if match "[[:alnum:],._+:@%/-]+" s == null
    then "'${replaceStrings [ "'" ] [ "'\\''" ] s}'"
    else s;
  escapeShellArgs = concatMapStringsSep " " escapeShellArg;
  isValidPosixName = name: match "[a-zA-Z_][a-zA-Z0-9_]*" name != null;
  toShellVar = name: value:
    lib.throwIfNot (isValidPosixName name) "toShellVar: ${name} is not a valid shell variable name"
      (if builtins.isAttrs value && !isStringLike value then
        "declare -A ${name}=(${concatStringsSep " " (lib.mapAttrsToList (n: v: "[${escapeShellArg n}]=${escapeShellArg v}") value)})"
      else if isList value then
        "declare -a ${name}=(${escapeShellArgs value})"
      else "${name}=${escapeShellArg value}");
  toShellVars = vars: concatStringsSep "\n" (lib.mapAttrsToList toShellVar vars);

  splitString = sep: s:
    let parts = split (escapeRegex (toString sep)) (toString s); in
    map (v: v) (filter isString parts);

  trim = trimWith { start = true; end = true; };
  trimWith = { start ? false, end ? false }: s:
    let
      regex =
        if start && end then "[[:space:]]*(.*[^[:space:]])[[:space:]]*"
        else if start then "[[:space:]]*(.*)"
        else if end then "(.*[^[:space:]])[[:space:]]*"
        else "(.*)";
      m = match regex s;
    in if m == null then "" else head m;

  replicate = n: s: concatStrings (lib.lists.replicate n s);
  fixedWidthString = width: filler: str:
    let strw = stringLength str; in
    if strw >= width then str else fixedWidthString width filler (filler + str);
  fixedWidthNumber = width: n: fixedWidthString width "0" (toString n);

  charToInt = c: builtins.getAttr c asciiTable;
  asciiTable = builtins.listToAttrs (genList (k: let i = k + 1; in {
    name = builtins.fromJSON "\"\\u00${lib.strings.fixedWidthString 2 "0" (lowerHex i)}\"";
    value = i;
  }) 126);
  lowerHex = n: toLower (toHexString n);
  toHexString = n: toBaseDigitsString 16 n;
  toBaseDigitsString = base: n:
    let
      digits = stringToCharacters "0123456789ABCDEF";
      go = n: if n < base then elemAt digits n else go (n / base) + elemAt digits (lib.trivial.mod n base);
    in go n;

  isStringLike = x: isString x || builtins.isPath x || x ? outPath || x ? __toString;
  isConvertibleWithToString = x:
    isStringLike x || builtins.elem (builtins.typeOf x) [ "null" "int" "float" "bool" ]
    || (isList x && builtins.all isConvertibleWithToString x);
  isStorePath = x:
    if isStringLike x then
      let str = toString x; in
      substring 0 1 str == "/"
      && builtins.dirOf str == builtins.storeDir
      && match ".{32}-.+" (baseNameOf str) != null
    else false;
  isPath = builtins.isPath;

  versionOlder = v1: v2: builtins.compareVersions v2 v1 == 1;
  versionAtLeast = v1: v2: !versionOlder v1 v2;
  getName = x: (builtins.parseDrvName (x.name or x)).name;
  getVersion = x: (builtins.parseDrvName (x.name or x)).version;
  nameFromURL = url: sep:
    let
      components = splitString "/" url;
      filename = lib.lists.last components;
      name = head (splitString sep filename);
    in assert name != filename; name;

  enableFeature = flag: feature: assert isString feature;
    "--${if flag then "enable" else "disable"}-${feature}";
  enableFeatureAs = flag: feature: value:
    enableFeature flag feature + optionalString flag "=${value}";
  withFeature = flag: feature: assert isString feature;
    "--${if !flag then "without" else "with"}-${feature}";
  withFeatureAs = flag: feature: value:
    withFeature flag feature + optionalString flag "=${value}";

  cmakeBool = feature: flag: "-D${feature}:BOOL=${if flag then "TRUE" else "FALSE"}";
  mesonBool = feature: flag: "-D${feature}=${if flag then "true" else "false"}";
  mesonEnable = feature: flag: "-D${feature}=${if flag then "enabled" else "disabled"}";

  makeSearchPath = subDir: paths:
    concatStringsSep ":" (map (path: path + "/" + subDir) (filter (x: x != null) paths));
  makeSearchPathOutput = output: subDir: pkgs:
    makeSearchPath subDir (map (lib.attrsets.getOutput output) pkgs);
  makeLibraryPath = makeSearchPathOutput "lib" "lib";
  makeBinPath = makeSearchPathOutput "bin" "bin";
  makeIncludePath = makeSearchPathOutput "dev" "include";

  addContextFrom = src: target: substring 0 0 src + target;

  toInt = str:
    let m = match "[[:space:]]*(-?[0-9]+)[[:space:]]*" str; in
    if m == null then throw "Could not convert ${str} to int."
    else builtins.fromJSON (
      let d = head m;
          stripped = match "(-?)0*([0-9]+)" d;
      in if stripped == null then d else elemAt stripped 0 + elemAt stripped 1);
  toIntBase10 = toInt;

  normalizePath = s:
    builtins.foldl' (x: y: if y == "/" && hasSuffix "/" x then x else x + y) "" (stringToCharacters s);

  commonPrefixLength = a: b:
    let
      m = lib.trivial.min (stringLength a) (stringLength b);
      go = i: if i < m && substring i 1 a == substring i 1 b then go (i + 1) else i;
    in go 0;

  levenshteinAtMost = k: a: b: levenshtein a b <= k;

  # A string usable as a derivation name: disallowed characters become `-`,
  # a leading dot is dropped, at most 207 characters.
  sanitizeDerivationName = string:
    let
      replaced = builtins.replaceStrings [ "." ] [ "." ]
        (concatStrings (map (c: if match "[a-zA-Z0-9+._?=-]" c != null then c else "-") (stringToCharacters string)));
      noDot = if hasPrefix "." replaced then substring 1 (-1) replaced else replaced;
      cut = substring (lib.trivial.max 0 (stringLength noDot - 207)) 207 noDot;
    in if cut == "" then "unknown" else cut;

  escapeURL =
    let
      unreserved = stringToCharacters "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
      encode = c: if builtins.elem c unreserved then c else "%${fixedWidthString 2 "0" (toHexString (charToInt c))}";
    in s: concatMapStrings encode (stringToCharacters s);

  levenshtein = a: b:
    let
      la = stringLength a;
      lb = stringLength b;
      ca = stringToCharacters a;
      cb = stringToCharacters b;
      row0 = genList (j: j) (lb + 1);
      step = prev: i:
        let
      ai = elemAt ca (i - 1);
          next = builtins.foldl' (acc: j:
            let
              cost = if ai == elemAt cb (j - 1) then 0 else 1;
              v = lib.trivial.min
                (lib.trivial.min (elemAt prev j + 1) (lib.lists.last acc + 1))
                (elemAt prev (j - 1) + cost);
            in acc ++ [ v ]) [ i ] (lib.lists.range 1 lb);
        in next;
    in lib.lists.last (builtins.foldl' step row0 (lib.lists.range 1 la));
}
