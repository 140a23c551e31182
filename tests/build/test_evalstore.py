"""The evaluator on a real store (``BuildingEvalStore``): derivations written
by pynix's evaluator are Nix's, and contexts are realised by building."""

from __future__ import annotations

import os
import subprocess

import pytest

import needs
from pynix.build.evalstore import BuildingEvalStore
from pynix.build.scheduler import BuildStatus, Scheduler
from pynix.lang.errors import EvalError
from pynix.lang.evaluator import Evaluator
from pynix.lang.runtime import force

from .conftest import Env

EXPR = """
let
  src = builtins.toFile "greeting" "hello";
  dep = derivation { name = "dep"; system = "x86_64-linux"; builder = "/bin/sh";
                     args = [ "-c" "read x < ${src}; echo $x > $out" ]; };
in derivation {
  name = "top"; system = "x86_64-linux"; builder = "/bin/sh";
  file = ./data.txt; inherit dep;
  args = [ "-c" "read x < $dep; read y < $file; echo \\"$x $y\\" > $out" ];
}
"""


def _evaluate(env: Env, directory: str, scheduler: Scheduler | None) -> tuple[str, str]:
    adapter = BuildingEvalStore(env.store, scheduler, error=EvalError)
    ev = Evaluator(store=adapter, cwd=directory)
    value = force(ev.eval_string(EXPR, directory))
    return str(force(value["drvPath"])), str(force(value["outPath"]))


@pytest.mark.usefixtures("bwrap")
def test_evaluated_derivation_builds(env: Env, tmp_path: object) -> None:
    directory = str(tmp_path)
    with open(os.path.join(directory, "data.txt"), "w", encoding="utf-8") as fh:
        fh.write("world\n")
    scheduler = env.scheduler()
    drv_path, out_path = _evaluate(env, directory, scheduler)
    assert env.store.is_valid_path(drv_path)
    assert env.store.read_derivation(drv_path).outputs["out"].path == out_path

    adapter = BuildingEvalStore(env.store, scheduler, error=EvalError)
    adapter.realise_context({f"!out!{drv_path}"})
    assert env.read(out_path) == "hello world\n"
    assert adapter.references_of(out_path) == set()
    assert adapter.read_text(drv_path).startswith("Derive(")

    if needs.nix():
        nix = subprocess.run(
            ["nix-instantiate", "--store", os.path.join(directory, "nixroot"), "-E", EXPR],
            capture_output=True, text=True, cwd=directory, check=True,
        ).stdout.strip()  # fmt: skip
        assert nix == drv_path


@pytest.mark.usefixtures("bwrap")
def test_errors_are_the_evaluators(env: Env, tmp_path: object) -> None:
    adapter = BuildingEvalStore(env.store, env.scheduler(), error=EvalError)
    with pytest.raises(EvalError, match=r"not allowed to end in '\.drv'"):
        adapter.add_path("/x/y.drv", name=None, filter=None, recursive=True)
    with pytest.raises(EvalError, match="error parsing derivation"):
        adapter.add_text("junk.drv", "junk", set())
    with pytest.raises(EvalError, match="is not valid"):
        adapter.ensure_path("/nix/store/" + "0" * 32 + "-ghost")
    bad = env.drv("bad", "exit 2")
    with pytest.raises(EvalError, match="failed with exit code 2"):
        adapter.realise_context({f"!out!{bad}"})
    assert env.store.query_path_info(bad) is not None
    result = env.scheduler().build([bad]).results[bad]
    assert result.status == BuildStatus.FAILED
