# networking.firewall: declared so that configurations written for NixOS
# evaluate, but pynix manages no firewall (the machines share the host's
# network namespace): these options have no effect.
{ lib, ... }:
let inherit (lib) mkOption types; in
{
  options.networking.firewall = {
    enable = mkOption {
      type = types.bool;
      default = false;
      description = "No effect in pynix: it manages no firewall (the host's rules apply).";
    };
    allowedTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
      description = "No effect in pynix: it manages no firewall.";
    };
    allowedUDPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
      description = "No effect in pynix: it manages no firewall.";
    };
  };
}
