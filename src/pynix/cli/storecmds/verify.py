"""``pynix store verify``: check (and repair) store paths (``nix store verify``,
``nix-store --verify``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO

from ...compat.hashing import Hash
from ...compat.nar import NarError, nar_hash_and_size
from ...store.api import Store
from .. import jsonout
from ..installables import follow_links_to_store_path
from ..pathgraph import closure, store_references
from ..repair import repair_hook
from ..storeopts import StoreContext, store_command

HELP = """\
Usage: pynix store verify [OPTION...] [PATH... | --all]

Check that store paths are intact: they exist and (unless --no-contents) their
contents still have the NAR hash registered for them.  Problems are printed
and the exit status is 1 if any remain.

  pynix store verify --all
  pynix store verify -r --repair ./result

  --all                  every valid path, and the database's own consistency
                         (the default when no path is given)
  -r, --recursive        the closures of the PATHs
  --check-contents       re-hash the contents (the default)
  --no-contents          only check that the paths exist
  --repair               rebuild damaged paths from their derivations
  --json                 {"problems": [...], "repaired": [...], "unrepaired": [...]}
"""


@dataclass
class Outcome:
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unrepaired: list[str] = field(default_factory=list)


def path_problem(store: Store, path: str, check_contents: bool) -> str | None:
    """What is wrong with a path, if anything."""
    if not store.is_valid_path(path):
        return f"path '{path}' is not valid"
    real = store.real_path(path)
    if not os.path.lexists(real):
        return f"path '{path}' disappeared"
    if not check_contents:
        return None
    info = store.query_path_info(path)
    try:
        got, size = nar_hash_and_size(real)
    except (OSError, NarError) as e:
        return f"path '{path}' cannot be read: {e}"
    expected = Hash.parse(info.nar_hash, "sha256")
    if got != expected:
        return (f"path '{path}' was modified! expected hash '{info.nar_hash}', "
                f"got '{got.to_prefixed()}'")  # fmt: skip
    if info.nar_size and size != info.nar_size:
        return f"path '{path}' has NAR size {size}, expected {info.nar_size}"
    return None


def verify_paths(store: Store, paths: list[str], check_contents: bool,
                 repair: Callable[[str], bool] | None) -> Outcome:
    outcome = Outcome()
    for path in paths:
        problem = path_problem(store, path, check_contents)
        if problem is None:
            continue
        outcome.problems.append(problem)
        if repair is not None and store.is_valid_path(path) and repair(path) \
                and path_problem(store, path, True) is None:
            outcome.repaired.append(path)
        else:
            outcome.unrepaired.append(problem if repair is None
                                      else f"cannot repair path '{path}'")
    return outcome


class Options:
    def __init__(self) -> None:
        self.all = False
        self.recursive = False
        self.check_contents = True
        self.repair = False
        self.json = False

    def flag(self, argv: list[str], i: int) -> int:
        a = argv[i]
        if a == "--all":
            self.all = True
        elif a in ("-r", "--recursive"):
            self.recursive = True
        elif a == "--check-contents":
            self.check_contents = True
        elif a == "--no-contents":
            self.check_contents = False
        elif a == "--repair":
            self.repair = True
        elif a == "--json":
            self.json = True
        elif a in ("--no-trust", "--sigs-needed", "-n"):
            return i + (2 if a in ("--sigs-needed", "-n") else 1)
        else:
            return i
        return i + 1


def verify(ctx: StoreContext, o: Options, args: list[str]) -> Outcome:
    hook = repair_hook(ctx) if o.repair else None
    if o.all or not args:
        report = ctx.local.verify_report(check_contents=o.check_contents, repair=o.repair,
                                         repair_path=hook)  # fmt: skip
        return Outcome(report.problems, report.repaired, report.unrepaired)
    paths = {follow_links_to_store_path(ctx, a) for a in args}
    if o.recursive:
        paths = closure(paths, store_references(ctx.store))
    return verify_paths(ctx.store, sorted(paths), o.check_contents, hook)


def report(ctx: StoreContext, outcome: Outcome, as_json: bool) -> int:
    if as_json:
        ctx.stdout.write(jsonout.compact({"problems": outcome.problems,
                                          "repaired": outcome.repaired,
                                          "unrepaired": outcome.unrepaired}))  # fmt: skip
    else:
        for problem in outcome.problems:
            ctx.info(problem)
        for path in outcome.repaired:
            ctx.info(f"repaired path '{path}'")
        for problem in outcome.unrepaired:
            if problem not in outcome.problems:
                ctx.info(f"error: {problem}")
        if outcome.unrepaired and outcome.repaired:
            ctx.warn("not all store errors were fixed")
    return 1 if outcome.unrepaired else 0


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    o = Options()

    def body(ctx: StoreContext, args: list[str]) -> int:
        return report(ctx, verify(ctx, o, args), o.json)

    return store_command("pynix store verify", HELP, argv, stdout, stderr, env, cwd, body,
                         o.flag)  # fmt: skip
