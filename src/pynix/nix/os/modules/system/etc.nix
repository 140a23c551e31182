# environment.etc: the files of /etc.  They are built into one tree (the
# `etc` derivation: etc/<target> links, and .mode/.uid/.gid sidecars for
# copied files), and the `etc` activation snippet (../../helpers/setup_etc.py)
# points /etc/static at it atomically and links /etc/<target> through it.
{ config, lib, pkgs, utils, ... }:
let
  inherit (lib) mkOption mkDefault types;

  entries = builtins.filter (e: e.enable) (lib.attrValues config.environment.etc);

  etcEntryOpts = { name, config, options, ... }: {
    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Whether this file is generated (false drops it).";
      };
      target = mkOption {
        type = types.str;
        description = "The path of the file relative to /etc (defaults to the attribute name).";
      };
      text = mkOption {
        type = types.nullOr types.lines;
        default = null;
        description = "The contents of the file (then `source` is a store file holding it).";
      };
      source = mkOption {
        type = types.path;
        description = "The file or directory linked (or copied) to /etc/<target>.";
      };
      mode = mkOption {
        type = types.str;
        default = "symlink";
        example = "0600";
        description = ''
          "symlink" (a link through /etc/static), "direct-symlink" (a link
          straight into the store) or an octal mode such as "0440": the file
          is then copied, with that mode and owner.
        '';
      };
      uid = mkOption {
        type = types.int;
        default = 0;
        description = "The owner's uid of a copied file.";
      };
      gid = mkOption {
        type = types.int;
        default = 0;
        description = "The group id of a copied file.";
      };
      user = mkOption {
        type = types.str;
        default = "+${toString config.uid}";
        description = "The owner of a copied file by name (`+N`: numeric); wins over uid.";
      };
      group = mkOption {
        type = types.str;
        default = "+${toString config.gid}";
        description = "The group of a copied file by name (`+N`: numeric); wins over gid.";
      };
    };
    config = {
      target = mkDefault name;
      source = lib.mkIf (config.text != null) (
        let name' = utils.storeName ("etc-" + lib.replaceStrings [ "/" ] [ "-" ] name); in
        lib.mkOverride options.text.highestPrio (pkgs.writeText name' config.text));
    };
  };

  checkMode = e:
    if builtins.elem e.mode [ "symlink" "direct-symlink" ]
      || builtins.match "[0-7]{3,4}" e.mode != null then e
    else throw "environment.etc.\"${e.target}\".mode: \"${e.mode}\" is neither \"symlink\", \"direct-symlink\" nor an octal mode such as \"0644\"";

  checkTarget = e:
    if lib.hasPrefix "/" e.target || builtins.elem ".." (lib.splitString "/" e.target)
    then throw "environment.etc.\"${e.target}\".target: must be a path relative to /etc without `..'"
    else e;

  etc = pkgs.runCommand "etc" {
    preferLocalBuild = true;
    allowSubstitutes = false;
    nativeBuildInputs = [ ];
    passAsFile = [ "entries" ];
    entries = lib.concatMapStrings (e0:
      let e = checkTarget (checkMode e0); in
      lib.concatMapStringsSep "\t" (s: lib.replaceStrings [ "\t" "\n" ] [ " " " " ] s)
        [ "${e.source}" e.target e.mode e.user e.group ] + "\n") entries;
  } ''
    set -eu
    mkdir -p "$out/etc"
    while IFS=$'\t' read -r src target mode user group; do
      [ -n "$target" ] || continue
      dst="$out/etc/$target"
      mkdir -p "$(dirname "$dst")"
      if [[ "$src" == *'*'* ]]; then
        # a glob: a directory of links to what it matches
        mkdir -p "$dst"
        for f in $src; do ln -s "$f" "$dst/$(basename "$f")"; done
      elif [ -e "$dst" ] || [ -L "$dst" ]; then
        if [ "$(readlink "$dst")" != "$src" ]; then
          echo "error: environment.etc: two different sources for /etc/$target: '$(readlink "$dst")' and '$src'" >&2
          exit 1
        fi
        continue
      else
        ln -s "$src" "$dst"
      fi
      if [ "$mode" != symlink ]; then
        printf '%s\n' "$mode" > "$dst.mode"
        printf '%s\n' "$user" > "$dst.uid"
        printf '%s\n' "$group" > "$dst.gid"
      fi
    done < "$entriesPath"
  '';
in
{
  options = {
    environment.etc = mkOption {
      type = types.attrsOf (types.submodule etcEntryOpts);
      default = { };
      example = lib.literalExpression ''
        { "nginx/extra.conf".text = "..."; "secret" = { source = ./secret; mode = "0400"; }; }
      '';
      description = "Files of /etc; the attribute name is the default target.";
    };
    system.build.etc = mkOption {
      internal = true;
      type = types.package;
      description = "The /etc tree of the system (the target of /etc/static).";
    };
  };

  config = {
    system.build.etc = etc;

    system.activationScripts.etc = {
      deps = [ "users" "groups" ];
      text = ''
        # set up the static files of /etc
        ${pkgs.python3}/bin/python3 ${../../helpers/setup_etc.py} ${etc}/etc
      '';
    };
  };
}
