# system.activationScripts and the activation scripts built from them
# ($toplevel/activate and $toplevel/dry-activate): snippets in dependency
# order, each allowed to fail without stopping the others, then the atomic
# flip of /run/current-system.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;

  snippetOpts = {
    options = {
      deps = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Snippets that must run before this one.";
      };
      text = mkOption {
        type = types.lines;
        description = "The shell code of the snippet.";
      };
      supportsDryActivation = mkOption {
        type = types.bool;
        default = false;
        description = "Whether the snippet runs (and is safe) in dry-activate.";
      };
    };
  };

  snippets = lib.mapAttrs
    (_: s: if builtins.isString s then { deps = [ ]; text = s; supportsDryActivation = false; } else s)
    config.system.activationScripts;

  # names in dependency order: sorted, each one's deps (recursively) first
  ordered =
    let
      visit = state: name:
        if state.seen ? ${name} then state
        else
          let
            s = snippets.${name} or (throw
              "system.activationScripts: a snippet depends on `${name}', which is not defined");
            afterDeps = builtins.foldl' visit
              { seen = state.seen // { ${name} = true; }; out = state.out; }
              s.deps;
          in
          afterDeps // { out = afterDeps.out ++ [ name ]; };
    in
    (builtins.foldl' visit { seen = { }; out = [ ]; } (builtins.attrNames snippets)).out;

  frame = name: text: ''
    #### Activation script snippet ${name}:
    _localstatus=0
    ${text}

    if (( _localstatus > 0 )); then
      printf "Activation script snippet '%s' failed (%s)\n" "${name}" "$_localstatus"
    fi
  '';

  toolPath = [
    pkgs.coreutils
    pkgs.debian.findutils
    pkgs.debian.grep
    pkgs.debian.sed
    pkgs.debian.gawk
    pkgs.debian."libc-bin"
  ];

  script = dry: ''
    #!${pkgs.bash}/bin/bash

    systemConfig='@out@'

    export PATH=/empty
    for i in ${toString toolPath}; do
      PATH=$PATH:$i/bin:$i/sbin
    done

    _status=0
    trap "_status=1 _localstatus=\$?" ERR

    # no world-writable files by accident
    umask 0022

    ${lib.concatMapStrings (name:
      let s = snippets.${name}; in
      if dry && !s.supportsDryActivation
      then "#### Activation script snippet ${name} does not support dry activation.\n"
      else frame name s.text) ordered}
  '' + lib.optionalString (!dry) ''
    # Make this configuration the current configuration: a new link renamed
    # over the old one, so /run/current-system is always one whole system.
    mkdir -p /run
    ln -sfn "$(readlink -f "$systemConfig")" /run/.current-system.tmp
    mv -T /run/.current-system.tmp /run/current-system
  '' + ''

    exit $_status
  '';
in
{
  options.system = {
    activationScripts = mkOption {
      type = types.attrsOf (types.either types.str (types.submodule snippetOpts));
      default = { };
      example = lib.literalExpression ''
        { stdio.text = "ln -sfn /proc/self/fd /dev/fd"; }
      '';
      description = ''
        Shell snippets run at every activation (switch, boot, rollback): a
        string, or `{ deps; text; supportsDryActivation; }`.  They must be
        idempotent; `NIXOS_ACTION` tells the action.
      '';
    };
    activationScriptText = mkOption {
      internal = true;
      readOnly = true;
      type = types.str;
      default = script false;
      description = "The activation script (with @out@ for the toplevel).";
    };
    dryActivationScriptText = mkOption {
      internal = true;
      readOnly = true;
      type = types.str;
      default = script true;
      description = "The dry activation script (with @out@ for the toplevel).";
    };
  };

  config.system.activationScripts = {
    var = {
      deps = [ ];
      text = ''
        # the directories every system has
        install -m 0755 -d /var /var/lib /var/log /var/cache /var/db /var/spool /run
        install -m 1777 -d /var/tmp /tmp
        install -m 0555 -d /var/empty
        if [ ! -L /var/run ]; then
          rmdir /var/run 2>/dev/null || true
          [ -e /var/run ] || ln -s /run /var/run
        fi
        if [ ! -L /var/lock ]; then
          rmdir /var/lock 2>/dev/null || true
          [ -e /var/lock ] || ln -s /run/lock /var/lock
        fi
        install -m 0755 -d /run/lock /run/nixos
      '';
    };

    # /bin/sh for glibc's system() and popen(): made only where there is no
    # /bin/sh of a host (or it is already the store's)
    binsh = {
      deps = [ ];
      text = ''
        if [ ! -e /bin/sh ] || [[ "$(readlink /bin/sh)" == /nix/store/* ]]; then
          mkdir -m 0755 -p /bin
          ln -sfn "${pkgs.bash}/bin/bash" /bin/.sh.tmp
          mv -T /bin/.sh.tmp /bin/sh
        fi
      '';
    };

    usrbinenv = {
      deps = [ ];
      text = ''
        if [ ! -e /usr/bin/env ] || [[ "$(readlink /usr/bin/env)" == /nix/store/* ]]; then
          mkdir -m 0755 -p /usr/bin
          ln -sfn "${pkgs.coreutils}/bin/env" /usr/bin/.env.tmp
          mv -T /usr/bin/.env.tmp /usr/bin/env
        fi
      '';
    };
  };
}
