# A small server, defined the way NixOS defines machines: nginx in front of a
# Python web application that keeps a counter in PostgreSQL.
#
#   pynix os switch -f examples/server/configuration.nix --root /tmp/machine
#   curl -H 'Host: example.com' http://127.0.0.1/
{ config, pkgs, ... }:

{
  networking.hostName = "example";
  system.stateVersion = "24.05";

  environment.systemPackages = with pkgs; [ nginx postgresql python3 ];

  services.nginx.enable = true;
  services.nginx.virtualHosts."example.com" = {
    root = "/var/www/example";
    locations."/".proxyPass = "http://localhost:3000";
  };

  services.postgresql.enable = true;
  services.postgresql.ensureDatabases = [ "myapp" ];
  services.postgresql.ensureUsers = [
    { name = "myapp"; ensureDBOwnership = true; }
  ];

  users.users.myapp = { isSystemUser = true; group = "myapp"; };
  users.groups.myapp = { };

  systemd.services.myapp = {
    description = "My app: a page view counter";
    wantedBy = [ "multi-user.target" ];
    after = [ "postgresql.service" ];
    requires = [ "postgresql.service" ];
    serviceConfig = {
      ExecStart = "${pkgs.python3}/bin/python3 ${./myapp.py}";
      Restart = "always";
      User = "myapp";
    };
  };
}
