"""The builder environment (spec 8.1-8.3) against ``builder-env.json``, which
records what a real Nix 2.8 builder saw."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from pynix.build.environment import (
    builder_environment,
    pass_as_file_name,
    structured_attrs_shell,
)
from pynix.build.scheduler import BuildStatus
from pynix.compat.derivation import Derivation

from .conftest import Env, usr_sandbox_paths

VECTOR_FILE = Path(__file__).parents[1] / "data" / "vectors" / "builder-env.json"
NIX_BUILD_DIR = "/tmp/nix-build-envdump.drv-0"


@pytest.fixture(scope="module")
def vector() -> dict[str, Any]:
    with open(VECTOR_FILE, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def test_pass_as_file_name() -> None:
    assert pass_as_file_name("big") == ".attr-1lak0mvllw8rv9i9ygkglvhqsq19qi9ynl4bi7gbf69ab5nzw89a"


def test_environment_matches_nix(vector: dict[str, Any]) -> None:
    drv = Derivation.parse(vector["drv"])
    benv = builder_environment(drv, build_dir=NIX_BUILD_DIR, cores=2, caller_env={})
    # the vector comes from the shell's `export`, which includes PWD like ours
    assert benv.variables == vector["env"]
    assert benv.files == {pass_as_file_name("big"): b"passed as file\n"}


def test_environment_order_and_fixed_output() -> None:
    drv = Derivation(
        outputs={},
        builder="/bin/sh",
        platform="x86_64-linux",
        env={"PATH": "/mine", "HOME": "/h", "TMPDIR": "/nope", "TERM": "dumb", "out": "/o",
             "impureEnvVars": "http_proxy MISSING"},
    )  # fmt: skip
    v = builder_environment(drv, build_dir="/build", cores=4, caller_env={"http_proxy": "p"})
    # derivation attributes override PATH/HOME but not the build dir or TERM
    assert v.variables["PATH"] == "/mine"
    assert v.variables["HOME"] == "/h"
    assert v.variables["TMPDIR"] == "/build"
    assert v.variables["TERM"] == "xterm-256color"
    assert "NIX_OUTPUT_CHECKED" not in v.variables
    assert "http_proxy" not in v.variables  # impure vars only for fixed outputs

    from pynix.compat.derivation import DerivationOutput

    drv.outputs = {"out": DerivationOutput("/o", "sha256", "00" * 32)}
    v = builder_environment(drv, build_dir="/build", cores=4, caller_env={"http_proxy": "p"})
    assert v.variables["NIX_OUTPUT_CHECKED"] == "1"
    assert v.variables["http_proxy"] == "p"
    assert v.variables["MISSING"] == ""


def test_structured_attrs_files() -> None:
    attrs = {
        "name": "s",
        "list": ["a", 1, True, None],
        "nested": {"k": "v", "n": 2},
        "deep": {"k": ["x"]},
        "float": 1.5,
        "whole": 2.0,
        "bool": False,
        "quote": "it's",
        "bad-name": "skipped",
        "outputs": {"out": "/nix/store/x-s"},
    }
    assert structured_attrs_shell(attrs) == (
        "declare bool=\n"
        "declare -a list=('a' 1 1 '' )\n"
        "declare name='s'\n"
        "declare -A nested=(['k']='v' ['n']=2 )\n"
        "declare -A outputs=(['out']='/nix/store/x-s' )\n"
        "declare quote='it'\\''s'\n"
        "declare whole=2\n"
    )
    drv = Derivation(
        outputs={},
        env={"__json": json.dumps({"name": "s", "outputs": ["out"], "x": "é"}), "out": "/o"},
    )
    from pynix.compat.derivation import DerivationOutput

    drv.outputs = {"out": DerivationOutput("/nix/store/x-s")}
    v = builder_environment(drv, build_dir="/build", cores=1)
    assert "out" not in v.variables and "__json" not in v.variables
    expected_json = '{"name":"s","outputs":{"out":"/nix/store/x-s"},"x":"é"}'
    assert v.files[".attrs.json"] == expected_json.encode()
    assert v.files[".attrs.sh"].startswith(b"declare name='s'\n")


def _export_lines(raw: str) -> dict[str, str]:
    return dict(re.findall(r"^export (\S+?)='(.*)'$", raw, re.M))


@pytest.mark.usefixtures("bwrap")
def test_real_build_sees_nix_environment(env: Env, vector: dict[str, Any]) -> None:
    """Build the vector's very derivation: same drv path, and the builder's
    `export` listing equals Nix's but for the build directory."""
    drv = Derivation.parse(vector["drv"])
    drv_path = env.store.add_derivation(drv, drv.name)
    assert drv_path == vector["drvPath"]
    settings: dict[str, object] = {"sandbox_paths": [*usr_sandbox_paths()]}
    from pynix.build.sandbox import parse_sandbox_paths

    settings["sandbox_paths"] = [*usr_sandbox_paths(), *parse_sandbox_paths(["/bin=/usr/bin"])]
    report = env.build(drv_path, **settings)
    result = report.results[drv_path]
    assert result.status == BuildStatus.BUILT, (result.error, result.log_tail)
    raw = env.read(vector["outPath"])
    expected_raw: str = vector["rawOutput"].replace(NIX_BUILD_DIR, "/build")
    assert _export_lines(raw) == _export_lines(expected_raw)

    sections = dict(re.findall(r"^== (.*?)\n(.*?)(?=^== |\Z)", raw, re.M | re.S))
    assert sections["pwd"] == "/build\n"
    assert sections["umask"] == "0022\n"
    assert sections["bigPath contents"] == "passed as file\n"
    attr_line = next(line for line in sections["ls build dir"].splitlines() if ".attr-" in line)
    assert attr_line.startswith("-rw-r--r--")
    assert re.search(r" 0 -> /dev/null$", sections["fds"], re.M)


@pytest.mark.usefixtures("bwrap")
def test_unsandboxed_build_sees_real_build_dir(env: Env, vector: dict[str, Any]) -> None:
    drv = Derivation.parse(vector["drv"])
    drv_path = env.store.add_derivation(drv, drv.name)
    report = env.build(drv_path, sandbox=False)
    assert report.results[drv_path].status == BuildStatus.BUILT
    raw = env.read(vector["outPath"])
    build_dir = os.path.join(env.tmp, "nix-build-envdump.drv-0")
    expected_raw = vector["rawOutput"].replace(NIX_BUILD_DIR, build_dir)
    assert _export_lines(raw) == _export_lines(expected_raw)
    assert not os.path.exists(build_dir)  # removed after a successful build
