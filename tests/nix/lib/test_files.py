# ruff: noqa: E501
"""Modules in files (spec §1.2-§1.5): keys and files of path modules, disabledModules by
path and relative to modulesPath, definition files reported inside submodules, laziness of
``options`` and of ``_module.args``; pynix and the real Nix must agree with the spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .harness import message, nix_available, nix_eval, pynix_eval

FILES = {
    "declare.nix": """{ lib, ... }: {
  options.enable = lib.mkOption { type = lib.types.bool; default = false; };
  options.items = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
  options.sub = lib.mkOption {
    default = { };
    type = lib.types.submoduleWith { modules = [ ({ options, ... }: {
      options.value = lib.mkOption { default = 0; };
      options.valueFiles = lib.mkOption { default = options.value.files; };
    }) ]; };
  };
}
""",
    "define-enable.nix": "{ enable = true; items = [ \"define-enable\" ]; }\n",
    "service/a.nix": "{ lib, ... }: { items = [ \"a\" ]; imports = [ ./b.nix ]; }\n",
    "service/b.nix": "{ items = [ \"b\" ]; }\n",
    "disable-a.nix": "{ disabledModules = [ \"service/a.nix\" ]; }\n",
    "disable-b-by-path.nix": "{ disabledModules = [ ./service/b.nix ]; }\n",
    "define-sub.nix": "{ sub.value = 3; }\n",
    "lazy-options.nix": "{ options, lib, ... }: { config = lib.mkIf (options ? notDeclared) { items = [ \"never\" ]; }; }\n",
    "uses-pkgs.nix": "{ pkgs, ... }: { items = [ pkgs.name ]; }\n",
    "define-undeclared.nix": "{ enabel = true; }\n",
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("modules")
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def both(expr: str) -> Any:
    got = pynix_eval(expr).value()
    if nix_available():
        assert nix_eval(expr).value() == got
    return got


def test_file_modules(tree: Path) -> None:
    d = str(tree)
    expr = f"""let
      ev = modules: evalModules {{ specialArgs.modulesPath = {d}; inherit modules; }};
      base = ev [ {d}/declare.nix {d}/define-enable.nix {d}/service/a.nix {d}/define-sub.nix ];
    in {{
      enable = base.config.enable;
      items = base.config.items;
      files = base.options.items.files;
      declarations = base.options.enable.declarations;
      subFiles = base.config.sub.valueFiles;
      disabledRelative = (ev [ {d}/declare.nix {d}/service/a.nix {d}/disable-a.nix ]).config.items;
      disabledByPath = (ev [ {d}/declare.nix {d}/service/a.nix {d}/disable-b-by-path.nix ]).config.items;
      lazyOptions = (ev [ {d}/declare.nix {d}/lazy-options.nix ]).config.items;
      pkgsArg = (ev [ {d}/declare.nix {d}/uses-pkgs.nix {{ _module.args.pkgs = {{ name = "p"; }}; }} ]).config.items;
      graph = map (g: {{ inherit (g) key; imports = map (i: i.key) g.imports; }})
        (ev [ {d}/service/a.nix ]).graph;
    }}"""
    got = both(expr)
    assert got["enable"] is True
    # reversed collection: b (imported by a) is processed first, then a, then define-enable
    assert got["items"] == ["b", "a", "define-enable"]
    assert got["files"] == [f"{d}/service/b.nix", f"{d}/service/a.nix", f"{d}/define-enable.nix"]
    assert got["declarations"] == [f"{d}/declare.nix"]
    assert got["subFiles"] == [f"{d}/define-sub.nix"]
    assert got["disabledRelative"] == []
    assert got["disabledByPath"] == ["a"]
    assert got["lazyOptions"] == []
    assert got["pkgsArg"] == ["p"]
    assert got["graph"] == [
        {"key": f"{d}/service/a.nix", "imports": [f"{d}/service/b.nix"]},
        {"key": "lib/modules.nix", "imports": []},
    ]


def test_undeclared_in_file_names_file_and_suggests(tree: Path) -> None:
    d = str(tree)
    expr = f"(evalModules {{ modules = [ {d}/declare.nix {d}/define-undeclared.nix ]; }}).config.enable"
    want = f"The option `enabel' does not exist. Definition values: - In `{d}/define-undeclared.nix': true Did you mean `enable', `sub' or `items'?"
    ours = pynix_eval(expr)
    assert want in message(ours.stderr), ours.stderr
    if nix_available():
        assert want in message(nix_eval(expr).stderr)


def test_config_in_imports_is_infinite_recursion(tree: Path) -> None:
    d = str(tree)
    expr = f"""(evalModules {{ modules = [ {d}/declare.nix
      ({{ config, ... }}: {{ imports = if config.enable then [ ] else [ ]; }}) ]; }}).config.enable"""
    ours = pynix_eval(expr)
    assert not ours.ok and "infinite recursion encountered" in ours.stderr
    assert "Traceback" not in ours.stderr
    if nix_available():
        assert "infinite recursion encountered" in nix_eval(expr).stderr
