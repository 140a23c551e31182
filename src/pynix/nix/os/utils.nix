# Helpers shared by the system modules (the module argument `utils`).
{ lib, pkgs }:
let
  inherit (builtins) isList isString isInt isBool isFloat isPath isAttrs all any
    concatStringsSep attrNames filter map toJSON replaceStrings stringLength;

  showLoc = loc: concatStringsSep "." loc;
  showFiles = defs: concatStringsSep ", " (map (d: "`${toString d.file}'") defs);

  isScalar = v: isString v || isInt v || isBool v || isFloat v || isPath v
    || (isAttrs v && v ? outPath);
in
rec {
  # The value type of serviceConfig, unitConfig, ...: a scalar (string,
  # number, boolean, path, package) or a list of them.  List definitions are
  # concatenated; scalar definitions must agree; lists and scalars do not mix.
  unitOption = lib.mkOptionType {
    name = "unitOption";
    description = "systemd option (a string, number, boolean, path or package, or a list of them)";
    check = v: isScalar v || (isList v && all isScalar v);
    merge = loc: defs:
      let
        values = map (d: d.value) defs;
        first = builtins.head values;
      in
      if all isList values then builtins.concatLists values
      else if any isList values then
        throw "The option `${showLoc loc}' has conflicting definitions: some are lists and some are not, in ${showFiles defs}."
      else if all (v: v == first) values then first
      else
        throw ("The option `${showLoc loc}' has conflicting definition values:"
          + concatStringsSep "" (map (d: "\n- In `${toString d.file}': ${toJSON (unitValueString d.value)}") defs));
  };

  # how a scalar appears in a unit file
  unitValueString = v:
    if v == true then "true"
    else if v == false then "false"
    else toString v;

  # `Key=value` lines of an attribute set (sorted keys; one line per list
  # element; null values left out)
  attrsToSection = attrs:
    concatStringsSep "" (lib.concatMap
      (key:
        let v = attrs.${key}; in
        if v == null then [ ]
        else if isList v then map (e: "${key}=${unitValueString e}\n") v
        else [ "${key}=${unitValueString v}\n" ])
      (attrNames attrs));

  # the unit-script name part: `\` becomes `-`, `@` becomes `_`
  scriptName = name: replaceStrings [ "\\" "@" ] [ "-" "_" ] name;

  # an executable store file .../unit-script-NAME-PHASE/bin/NAME-PHASE
  makeJobScript = name: phase: text:
    let n = "${scriptName name}-${phase}"; in
    (pkgs.writeTextFile {
      name = "unit-script-${n}";
      executable = true;
      destination = "/bin/${n}";
      text = "#!${pkgs.bash}/bin/bash\nset -e\n${text}\n";
      checkPhase = ''"${pkgs.bash}/bin/bash" -n "$target"'';
    }) + "/bin/${n}";

  # the absolute path of a login shell given as a package or a path
  toShellPath = shell:
    if isAttrs shell && shell ? outPath then
      "${shell}${shell.shellPath or "/bin/${shell.meta.mainProgram or "sh"}"}"
    else toString shell;

  # the `bin` then `sbin` directories of packages (and plain strings as is)
  makeBinPath = paths:
    concatStringsSep ":" (map (p: "${p}/bin") paths ++ map (p: "${p}/sbin") paths);

  # a unit's full name: NAME.service, NAME.target, ...
  unitNameType = lib.types.strMatching
    "[a-zA-Z0-9@%:_.\\-]+\\.(service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";

  # a store name made of anything (store names allow [a-zA-Z0-9+._?=-])
  storeName = s:
    lib.concatStrings (map (c: if builtins.match "[a-zA-Z0-9+._?=-]" c != null then c else "-")
      (lib.stringToCharacters s));
}
