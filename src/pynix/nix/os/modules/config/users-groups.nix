# users.users and users.groups: accounts in /etc/passwd, /etc/group and
# /etc/shadow, created, updated and removed by the `users` activation snippet
# (../../helpers/update_users_groups.py), which allocates the ids left null
# and remembers them in /var/lib/pynix.
{ config, lib, pkgs, utils, ... }:
let
  inherit (lib) mkOption mkDefault mkIf types;
  cfg = config.users;

  nologin = pkgs.writeTextFile {
    name = "nologin";
    meta.mainProgram = "nologin";
    executable = true;
    destination = "/bin/nologin";
    text = ''
      #!${pkgs.bash}/bin/bash
      echo "This account is currently not available." >&2
      exit 1
    '';
  };

  passwordOption = description: mkOption {
    type = types.nullOr types.str;
    default = null;
    inherit description;
  };

  userOpts = { name, config, ... }: {
    options = {
      name = mkOption {
        type = types.str;
        description = "The user's login name (defaults to the attribute name).";
      };
      uid = mkOption {
        type = types.nullOr types.int;
        default = null;
        description = ''
          The user's id; null: allocated at activation (system users below
          1000, normal users from 1000) and kept from then on.
        '';
      };
      isSystemUser = mkOption {
        type = types.bool;
        default = false;
        description = "Whether this is a system user (an account for a service).";
      };
      isNormalUser = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Whether this is a real user: sets group "users", createHome, home
          /home/<name> and the default shell.
        '';
      };
      group = mkOption {
        type = types.str;
        default = "";
        description = "The user's primary group (required).";
      };
      extraGroups = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Further groups the user is a member of.";
      };
      description = mkOption {
        type = types.str;
        default = "";
        example = "Alice Q. User";
        description = "The user's full name (the GECOS field of /etc/passwd).";
      };
      home = mkOption {
        type = types.either types.path types.str;
        default = "/var/empty";
        description = "The user's home directory.";
      };
      homeMode = mkOption {
        type = types.strMatching "[0-7]{1,5}";
        default = "700";
        description = "The permissions of the home directory when it is created.";
      };
      createHome = mkOption {
        type = types.bool;
        default = false;
        description = "Whether to create the home directory (owned by the user).";
      };
      shell = mkOption {
        type = types.nullOr (types.either types.package types.path);
        default = nologin;
        defaultText = "a nologin program";
        description = "The user's login shell (a package or a path).";
      };
      useDefaultShell = mkOption {
        type = types.bool;
        default = false;
        description = "Whether the shell is users.defaultUserShell.";
      };
      hashedPassword = passwordOption "The hash of the password (as in /etc/shadow).";
      password = passwordOption "The password in clear text (readable by anyone in the store).";
      initialPassword = passwordOption "The password in clear text, set when the user is created.";
      initialHashedPassword = passwordOption "The hash of the password, set when the user is created.";
      hashedPasswordFile = passwordOption "A file holding the hash of the password, read at activation.";
      openssh.authorizedKeys.keys = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Public SSH keys allowed to log in as this user.";
      };
      packages = mkOption {
        type = types.listOf types.package;
        default = [ ];
        description = "Packages of this user, linked into /etc/profiles/per-user/<name>.";
      };
    };
    config = lib.mkMerge [
      { name = mkDefault name; }
      (mkIf config.isNormalUser {
        group = mkDefault "users";
        createHome = mkDefault true;
        home = mkDefault "/home/${config.name}";
        useDefaultShell = mkDefault true;
        isSystemUser = mkDefault false;
      })
      (mkIf config.useDefaultShell { shell = mkDefault cfg.defaultUserShell; })
    ];
  };

  groupOpts = { name, ... }: {
    options = {
      name = mkOption {
        type = types.str;
        default = name;
        description = "The group's name (defaults to the attribute name).";
      };
      gid = mkOption {
        type = types.nullOr types.int;
        default = null;
        description = "The group's id; null: allocated at activation and kept.";
      };
      members = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Users in this group (besides those naming it in extraGroups).";
      };
    };
  };

  users = lib.attrValues cfg.users;
  groups = lib.attrValues cfg.groups;

  # names declared more than once with one id (uids or gids)
  duplicateIds = kind: items:
    let
      withId = builtins.filter (i: i.${kind} != null) items;
      byId = builtins.groupBy (i: toString i.${kind}) withId;
    in
    lib.filterAttrs (_: is: builtins.length is > 1) byId;

  spec = {
    inherit (cfg) mutableUsers;
    users = map (u: {
      inherit (u) name uid group description homeMode createHome isSystemUser
        hashedPassword password initialPassword initialHashedPassword hashedPasswordFile;
      home = toString u.home;
      shell = if u.shell == null then null else utils.toShellPath u.shell;
      system = u.isSystemUser || (u.uid != null && u.uid < 1000);
    }) users;
    groups = map (g: {
      inherit (g) name gid;
      members = lib.unique (g.members
        ++ map (u: u.name) (builtins.filter (u: builtins.elem g.name u.extraGroups) users));
    }) groups;
  };

  specFile = pkgs.writeText "users-groups.json" (builtins.toJSON spec);
in
{
  options.users = {
    users = mkOption {
      type = types.attrsOf (types.submodule userOpts);
      default = { };
      example = { alice = { isNormalUser = true; extraGroups = [ "wheel" ]; }; };
      description = "The user accounts of the machine.";
    };
    groups = mkOption {
      type = types.attrsOf (types.submodule groupOpts);
      default = { };
      example = { students.gid = 1001; };
      description = "The groups of the machine.";
    };
    mutableUsers = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Whether accounts not declared here may exist (added with useradd,
        ...). When false, /etc/passwd and /etc/group hold exactly the
        declared accounts.
      '';
    };
    defaultUserShell = mkOption {
      type = types.either types.package types.path;
      default = pkgs.bash;
      defaultText = "pkgs.bash";
      description = "The shell of users with useDefaultShell (normal users).";
    };
    enforceIdUniqueness = mkOption {
      type = types.bool;
      default = true;
      description = "Whether two accounts may not share an id.";
    };
  };

  config = {
    users.users = {
      root = {
        uid = 0;
        description = "System administrator";
        home = "/root";
        shell = mkDefault cfg.defaultUserShell;
        group = "root";
      };
      nobody = {
        uid = 65534;
        isSystemUser = true;
        description = "Unprivileged account (don't use!)";
        group = "nogroup";
      };
    };

    users.groups = {
      root.gid = 0;
      wheel.gid = 1;
      nogroup.gid = 65534;
      users.gid = 100;
    };

    assertions =
      lib.concatMap (u: [
        {
          assertion = (u.isSystemUser || (u.uid != null && u.uid < 1000)) != u.isNormalUser;
          message = "Exactly one of users.users.${u.name}.isSystemUser and users.users.${u.name}.isNormalUser must be set.";
        }
        {
          assertion = u.group != "";
          message = ''
            users.users.${u.name}.group is unset. This used to default to
            nogroup, but this is unsafe. For example you can create a group
            for this user with:
            users.users.${u.name}.group = "${u.name}";
            users.groups.${u.name} = {};'';
        }
      ]) users
      ++ lib.optionals cfg.enforceIdUniqueness (
        lib.mapAttrsToList (id: us: {
          assertion = false;
          message = "UIDs must be unique: users ${lib.concatMapStringsSep ", " (u: u.name) us} all have uid ${id} (users.users.<name>.uid).";
        }) (duplicateIds "uid" users)
        ++ lib.mapAttrsToList (id: gs: {
          assertion = false;
          message = "GIDs must be unique: groups ${lib.concatMapStringsSep ", " (g: g.name) gs} all have gid ${id} (users.groups.<name>.gid).";
        }) (duplicateIds "gid" groups));

    warnings = lib.concatMap (u:
      lib.optional (u.group != "" && !(cfg.groups ? ${u.group}) && !(lib.any (g: g.name == u.group) groups))
        "users.users.${u.name}.group is \"${u.group}\", a group that is not declared in users.groups.")
      users;

    # users.users.<name>.packages
    environment.etc = lib.mapAttrs' (_: u: lib.nameValuePair "profiles/per-user/${u.name}" {
      source = pkgs.buildEnv {
        name = "user-environment";
        paths = u.packages;
        pathsToLink = [ "/bin" "/sbin" "/share" "/lib" ];
        ignoreCollisions = true;
      };
    }) (lib.filterAttrs (_: u: u.packages != [ ]) cfg.users);

    system.activationScripts.users = {
      deps = [ "var" ];
      text = ''
        install -m 0755 -d /var/lib/pynix
        ${pkgs.python3}/bin/python3 ${../../helpers/update_users_groups.py} ${specFile}
      '';
      supportsDryActivation = false;
    };
    # both kinds of accounts are made by the `users` snippet
    system.activationScripts.groups = { deps = [ "users" ]; text = ""; };
  };
}
