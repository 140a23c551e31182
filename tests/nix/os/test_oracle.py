"""The real Nix as the oracle: it evaluates the same system modules (with
`<pynix>` pointing at pynix's Nix files) and must agree with pynix on every
unit file, on the generated configuration files and on the toplevel's
derivation path (so every derivation of the system is the same, byte for
byte)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import needs
from pynix.cli import nixcmd  # type: ignore[import-untyped,unused-ignore]

from .conftest import OsWorld

PYNIX_NIX_DIR = str(Path(nixcmd.__file__).resolve().parent.parent / "nix")
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "server"


def test_real_nix_agrees_on_the_server_example(world: OsWorld) -> None:
    nix = needs.nix()
    for f in ("configuration.nix", "myapp.py"):
        shutil.copy(EXAMPLE / f, world.dir / f)
    extra = world.write("extra.nix", """{ lib, pkgs, ... }: {
  imports = [ ./configuration.nix ];
  services.redis.servers.cache = { enable = true; port = 6390; };
  services.nginx.virtualHosts."example.com".locations."/static/".alias = "/var/www/static/";
  environment.etc."app.conf" = { text = "x"; mode = "0600"; user = "myapp"; };
  users.users.alice = { isNormalUser = true; };
  systemd.services.nightly = { script = "echo hi"; startAt = "daily"; };
}
""")
    file = world.write("oracle.nix", f"""
let r = import <pynix/os/eval-config.nix> {{ modules = [ {extra} ]; }}; in {{
  drv = r.config.system.build.toplevel.drvPath;
  units = builtins.mapAttrs (n: u: u.text) r.config.systemd.units;
  nginx = r.config.services.nginx.configFile.text;
  hba = r.config.services.postgresql.authentication;
  activate = r.config.system.activationScriptText;
}}
""")
    ours = world.pynix("eval", "--json", "-f", file)
    assert ours.ok, ours.stderr
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(world.dir),
           "NIX_PATH": "", "LANG": "C.UTF-8",
           "NIX_CONFIG": "substituters =\nexperimental-features = nix-command\n"}
    real = subprocess.run(
        [nix, "--eval", "--strict", "--json", "--store", str(world.dir / "nixroot"),
         "-I", f"pynix={PYNIX_NIX_DIR}", file],
        capture_output=True, text=True, env=env, cwd=world.dir, timeout=300, check=False)
    assert real.returncode == 0, real.stderr
    a, b = json.loads(ours.stdout), json.loads(real.stdout)
    assert sorted(a["units"]) == sorted(b["units"])
    for name in a["units"]:
        assert a["units"][name] == b["units"][name], name
    for key in ("nginx", "hba", "activate"):
        assert a[key] == b[key], key
    assert a["drv"] == b["drv"]
