# `buildEnv`: one tree of symlinks to the files of several packages (a user
# environment). Directories are real; two packages providing different files
# at the same place is an error naming both, unless `ignoreCollisions`.
{ lib, runCommand }:
{ name
, paths
, pathsToLink ? [ "/" ]
, ignoreCollisions ? false
, checkCollisionContents ? true
, extraOutputsToInstall ? [ ]
, postBuild ? ""
, meta ? { }
, passthru ? { }
, ...
}@args:
let
  withOutputs = p:
    [ p ] ++ map (o: p.${o}) (builtins.filter (o: lib.isAttrs p && p ? ${o}) extraOutputsToInstall);
  allPaths = lib.unique (lib.concatMap withOutputs (builtins.filter (p: p != null) paths));
in
runCommand name (removeAttrs args [ "name" "paths" "pathsToLink" "extraOutputsToInstall" ] // {
  inherit meta passthru postBuild;
  paths = allPaths;
  inherit pathsToLink;
  ignoreCollisions = ignoreCollisions;
  checkCollisionContents = checkCollisionContents;
  preferLocalBuild = true;
  allowSubstitutes = false;
}) ''
  mkdir -p "$out"
  # linkPath SOURCE REL: make $out/REL the same tree as SOURCE
  linkPath() {
    local src="$1" rel="$2" dst="$out''${2:+/$2}" e
    if [ -d "$src" ]; then
      if [ -L "$dst" ] || { [ -e "$dst" ] && [ ! -d "$dst" ]; }; then
        collision "$src" "$rel"
        return
      fi
      mkdir -p "$dst"
      while IFS= read -r -d "" e; do
        linkPath "$src/$e" "''${rel:+$rel/}$e"
      done < <(cd "$src" && find . -mindepth 1 -maxdepth 1 -printf '%P\0' | sort -z)
    elif [ -e "$dst" ] || [ -L "$dst" ]; then
      collision "$src" "$rel"
    else
      ln -s "$src" "$dst"
    fi
  }
  collision() {
    local src="$1" rel="$2" old
    old="$(readlink "$out/$rel" 2>/dev/null || echo "$out/$rel")"
    if [ "$(readlink -f "$old")" = "$(readlink -f "$src")" ]; then
      return
    fi
    if [ -n "$checkCollisionContents" ] && [ -f "$old" ] && [ -f "$src" ] && cmp -s "$old" "$src"; then
      return
    fi
    if [ -n "$ignoreCollisions" ]; then
      echo "buildEnv: warning: collision between '$old' and '$src' ('$rel'), keeping the first" >&2
      return
    fi
    echo "error: buildEnv: collision between '$old' and '$src': both provide '$rel'" >&2
    echo "(set ignoreCollisions = true to keep the first one)" >&2
    exit 1
  }
  seen=" "
  addPackage() {
    local pkg="$1" p
    case "$seen" in *" $pkg "*) return ;; esac
    seen+="$pkg "
    for p in $pathsToLink; do
      p="''${p#/}"; p="''${p%/}"
      if [ -e "$pkg''${p:+/$p}" ]; then
        if [ -n "$p" ]; then mkdir -p "$out/$(dirname "$p")"; fi
        linkPath "$pkg''${p:+/$p}" "$p"
      fi
    done
    if [ -f "$pkg/nix-support/propagated-user-env-packages" ]; then
      for p in $(< "$pkg/nix-support/propagated-user-env-packages"); do
        addPackage "$p"
      done
    fi
  }
  for pkg in $paths; do
    addPackage "$pkg"
  done
  eval "$postBuild"
''
