# ruff: noqa: E501
"""A NixOS-like evaluation at scale: 30 service modules (each with options of several types
and an attrsOf-submodule option), a core module collecting units from all of them, and a
user configuration enabling everything.  The result is checked against the real Nix and
the evaluation must stay well within seconds (the interpreter's hot paths)."""

from __future__ import annotations

import time

import pytest

from .harness import nix_available, nix_eval, pynix_eval

N = 30

SERVICE = """{{ config, lib, ... }}:
let cfg = config.services.s{i}; inherit (lib) mkOption mkEnableOption mkIf types; in {{
  options.services.s{i} = {{
    enable = mkEnableOption "s{i}";
    port = mkOption {{ type = types.port; default = {port}; }};
    extra = mkOption {{ type = types.lines; default = ""; }};
    packages = mkOption {{ type = types.listOf types.str; default = [ ]; }};
    settings = mkOption {{ type = types.attrsOf (types.either types.int types.str); default = {{ }}; }};
    instances = mkOption {{
      default = {{ }};
      type = types.attrsOf (types.submodule ({{ name, ... }}: {{
        options.enable = mkOption {{ type = types.bool; default = true; }};
        options.dir = mkOption {{ type = types.str; default = "/var/lib/${{name}}"; }};
        options.user = mkOption {{ type = types.nullOr types.str; default = null; }};
      }}));
    }};
  }};
  config = mkIf cfg.enable {{
    core.units.s{i} = {{ text = "port=${{toString cfg.port}}"; after = [ "network.target" ]; }};
    core.packages = cfg.packages ++ [ "p{i}" ];
    services.s{i}.instances.main = {{ }};
    services.s{i}.settings = {{ a = 1; b = "x"; }};
  }};
}}
"""

CORE = """{ lib, ... }: let inherit (lib) mkOption types; in {
  options.core.units = mkOption {
    default = { };
    type = types.attrsOf (types.submodule ({ name, ... }: {
      options.text = mkOption { type = types.lines; };
      options.after = mkOption { type = types.listOf types.str; default = [ ]; };
      options.wantedBy = mkOption { type = types.listOf types.str; default = [ "multi-user.target" ]; };
      options.unitName = mkOption { type = types.str; default = "${name}.service"; };
    }));
  };
  options.core.packages = mkOption { type = types.listOf types.str; default = [ ]; };
}
"""


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("system")
    (root / "core.nix").write_text(CORE)
    for i in range(N):
        (root / f"s{i}.nix").write_text(SERVICE.format(i=i, port=1000 + i))
    user = " ".join(
        f'services.s{i}.enable = true; services.s{i}.extra = "x"; '
        f'services.s{i}.instances.i2.user = "u";'
        for i in range(N)
    )
    modules = " ".join(f"./s{i}.nix" for i in range(N))
    (root / "system.nix").write_text(
        "{ lib }: (lib.evalModules { modules = [ ./core.nix " + modules
        + " { " + user + " } ]; }).config\n"
    )
    return str(root / "system.nix")


def test_large_system(system: str) -> None:
    expr = f"import {system} {{ inherit lib; }}"
    start = time.process_time()
    got = pynix_eval(expr).value()
    elapsed = time.process_time() - start
    assert sorted(got["core"]["units"]) == sorted(f"s{i}" for i in range(N))
    assert got["core"]["units"]["s7"] == {
        "text": "port=1007", "after": ["network.target"],
        "wantedBy": ["multi-user.target"], "unitName": "s7.service",
    }
    assert got["services"]["s3"]["instances"] == {
        "i2": {"enable": True, "dir": "/var/lib/i2", "user": "u"},
        "main": {"enable": True, "dir": "/var/lib/main", "user": None},
    }
    assert len(got["core"]["packages"]) == N
    assert elapsed < 20, f"evaluation took {elapsed:.1f} s of CPU"
    if nix_available():
        assert nix_eval(expr).value() == got
