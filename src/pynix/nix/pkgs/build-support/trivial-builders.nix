# Builders for small derivations: files from text, scripts, a command run in
# the stdenv, directories of symlinks, development shells.
{ lib, stdenvNoCC, stdenv }:
let
  inherit (lib) optionalAttrs concatStringsSep;

  # the stdenv of a shell: with the compiler when there is one
  shellStdenv = if stdenv.hasCC or false then stdenv else stdenvNoCC;
in
rec {
  runtimeShell = stdenvNoCC.shell;

  # `buildCommand` run by `stdenv` with `derivationArgs` as the environment.
  runCommandWith = { name, stdenv ? stdenvNoCC, runLocal ? false, derivationArgs ? { } }:
    buildCommand:
    stdenv.mkDerivation ({
      inherit name buildCommand;
      enableParallelBuilding = true;
    } // optionalAttrs runLocal {
      preferLocalBuild = true;
      allowSubstitutes = false;
    } // derivationArgs // {
      passAsFile = [ "buildCommand" ] ++ (derivationArgs.passAsFile or [ ]);
    });

  runCommand = name: env: runCommandWith { inherit name; derivationArgs = env; };
  runCommandLocal = name: env:
    runCommandWith { inherit name; runLocal = true; derivationArgs = env; };
  runCommandCC = name: env:
    runCommandWith { inherit name stdenv; derivationArgs = env; };

  # A file `$out${destination}` holding `text`; `checkPhase` runs afterwards
  # with `$target` naming the file.
  writeTextFile =
    { name
    , text
    , executable ? false
    , destination ? ""
    , checkPhase ? ""
    , meta ? { }
    , passthru ? { }
    , allowSubstitutes ? false
    , preferLocalBuild ? true
    , derivationArgs ? { }
    }:
    if destination != "" && !(lib.hasPrefix "/" destination) then
      throw "writeTextFile (${name}): destination must be empty or start with '/', not '${destination}'"
    else
      runCommandWith {
        inherit name;
        derivationArgs = {
          inherit text executable checkPhase meta passthru allowSubstitutes preferLocalBuild;
          destination = destination;
          passAsFile = [ "text" ];
        } // derivationArgs;
      } ''
        target="$out$destination"
        mkdir -p "$(dirname "$target")"
        if [ -e "''${textPath:-}" ]; then
          cp "$textPath" "$target"
        else
          printf '%s' "$text" > "$target"
        fi
        if [ -n "$executable" ]; then
          chmod +x "$target"
        fi
        eval "$checkPhase"
      '';

  writeText = name: text: writeTextFile { inherit name text; };

  writeTextDir = path: text: writeTextFile {
    name = baseNameOf path;
    inherit text;
    destination = "/${path}";
  };

  writeScript = name: text: writeTextFile { inherit name text; executable = true; };

  writeScriptBin = name: text: writeTextFile {
    inherit name text;
    executable = true;
    destination = "/bin/${name}";
  };

  writeShellScript = name: text: writeTextFile {
    inherit name;
    executable = true;
    text = "#!${runtimeShell}\n${text}\n";
    checkPhase = ''"${runtimeShell}" -n "$target"'';
  };

  writeShellScriptBin = name: text: writeTextFile {
    inherit name;
    executable = true;
    destination = "/bin/${name}";
    text = "#!${runtimeShell}\n${text}\n";
    checkPhase = ''"${runtimeShell}" -n "$target"'';
    meta.mainProgram = name;
  };

  # One tree of symlinks to the files of `paths` (directories are real; the
  # first path providing a file wins).
  symlinkJoin = args@{ name, paths, postBuild ? "", ... }:
    runCommand name (removeAttrs args [ "name" "postBuild" ] // {
      inherit postBuild;
      preferLocalBuild = true;
      allowSubstitutes = false;
      passAsFile = [ "paths" ];
    }) ''
      mkdir -p "$out"
      for p in $(< "$pathsPath"); do
        (cd "$p" && find . -mindepth 1 \( -type d -printf 'd %P\n' \) -o -printf 'f %P\n') |
        while IFS= read -r line; do
          kind="''${line%% *}"; rel="''${line#* }"
          if [ "$kind" = d ]; then
            mkdir -p "$out/$rel"
          elif [ ! -e "$out/$rel" ] && [ ! -L "$out/$rel" ]; then
            ln -s "$p/$rel" "$out/$rel"
          fi
        done
      done
      eval "$postBuild"
    '';

  # A development shell: building it gives a file with its environment
  # (`export -p`); tools such as `develop` use its inputs and `shellHook`.
  mkShell =
    attrs@{ name ? "nix-shell"
    , packages ? [ ]
    , inputsFrom ? [ ]
    , buildInputs ? [ ]
    , nativeBuildInputs ? [ ]
    , propagatedBuildInputs ? [ ]
    , propagatedNativeBuildInputs ? [ ]
    , shellHook ? ""
    , ...
    }:
    let
      notFrom = xs: builtins.filter (x: !(builtins.elem x inputsFrom)) xs;
      merged = attr: own:
        own ++ notFrom (lib.concatMap (i: i.${attr} or [ ]) inputsFrom);
      rest = removeAttrs attrs [
        "name" "packages" "inputsFrom" "buildInputs" "nativeBuildInputs"
        "propagatedBuildInputs" "propagatedNativeBuildInputs" "shellHook"
      ];
    in
    shellStdenv.mkDerivation ({
      inherit name;
      buildInputs = merged "buildInputs" buildInputs;
      nativeBuildInputs = packages ++ merged "nativeBuildInputs" nativeBuildInputs;
      propagatedBuildInputs = merged "propagatedBuildInputs" propagatedBuildInputs;
      propagatedNativeBuildInputs =
        merged "propagatedNativeBuildInputs" propagatedNativeBuildInputs;
      shellHook = concatStringsSep "\n"
        (builtins.filter (s: s != "")
          (map (i: i.shellHook or "") (lib.reverseList inputsFrom) ++ [ shellHook ]));
      phases = [ "buildPhase" ];
      buildPhase = ''
        { echo "# $name: a development shell environment"; export -p; } > "$out"
      '';
      preferLocalBuild = true;
      allowSubstitutes = false;
      doCheck = false;
    } // rest);
}
