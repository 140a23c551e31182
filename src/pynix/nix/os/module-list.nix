# The system modules, evaluated before the user's configuration.
[
  ./modules/misc/assertions.nix
  ./modules/misc/nixpkgs.nix
  ./modules/misc/version.nix
  ./modules/config/system-path.nix
  ./modules/config/shells-environment.nix
  ./modules/config/networking.nix
  ./modules/config/users-groups.nix
  ./modules/system/etc.nix
  ./modules/system/activation.nix
  ./modules/system/systemd.nix
  ./modules/system/top-level.nix
  ./modules/services/nginx.nix
  ./modules/services/postgresql.nix
  ./modules/services/redis.nix
]
