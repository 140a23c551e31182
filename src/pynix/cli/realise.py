"""Realising targets for the commands: what a build would do (``--dry-run``),
building, and the output paths that came out.

:func:`query_missing` follows the derivation graph from the targets the way
the scheduler plans it: a derivation whose wanted outputs are valid needs
nothing; otherwise it will be built, and its inputs are wanted in turn.
Paths that are neither valid nor buildable are unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..build.scheduler import BuildReport, Scheduler, Target
from ..compat.derivation import Derivation, DerivationError
from ..store.api import Store, StoreError
from .installables import Built, Opaque
from .installables import Target as Installable
from .pathgraph import topo_sort_paths
from .storeopts import CommandError


@dataclass
class Missing:
    will_build: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)


def read_derivation(store: Store, drv_path: str) -> Derivation:
    if not store.is_valid_path(drv_path):
        raise CommandError(f"path '{drv_path}' is not valid")
    try:
        return store.read_derivation(drv_path)
    except (OSError, DerivationError) as e:
        raise CommandError(f"cannot read derivation '{drv_path}': {e}") from None


def wanted_outputs(drv: Derivation, drv_path: str, outputs: Iterable[str] | None) -> list[str]:
    names = sorted(drv.outputs) if outputs is None else sorted(outputs)
    for name in names:
        if name not in drv.outputs:
            raise CommandError(f"derivation '{drv_path}' does not have an output named '{name}'")
    return names


def query_missing(store: Store, targets: Iterable[Installable]) -> Missing:
    missing = Missing()
    done: set[tuple[str, frozenset[str] | None]] = set()
    todo: list[tuple[str, frozenset[str] | None]] = []
    for t in targets:
        if isinstance(t, Built):
            todo.append((t.drv_path, t.outputs))
        elif not store.is_valid_path(t.path):
            missing.unknown.add(t.path)
    while todo:
        drv_path, outputs = todo.pop()
        if (drv_path, outputs) in done:
            continue
        done.add((drv_path, outputs))
        if not store.is_valid_path(drv_path):
            missing.unknown.add(drv_path)
            continue
        try:
            drv = store.read_derivation(drv_path)
        except (OSError, StoreError, DerivationError):
            missing.unknown.add(drv_path)
            continue
        names = drv.outputs.keys() if outputs is None else outputs & drv.outputs.keys()
        if all(store.is_valid_path(drv.outputs[o].path) for o in names):
            continue
        missing.will_build.add(drv_path)
        for input_drv, input_outputs in drv.input_drvs.items():
            todo.append((input_drv, frozenset(input_outputs)))
        for src in drv.input_srcs:
            if not store.is_valid_path(src):
                missing.unknown.add(src)
    return missing


def missing_text(store: Store, missing: Missing) -> str:
    """Nix's account of what a build will do (empty if nothing)."""
    lines: list[str] = []
    if missing.will_build:
        n = len(missing.will_build)
        lines.append("this derivation will be built:" if n == 1
                     else f"these {n} derivations will be built:")
        order = topo_sort_paths(store, missing.will_build)
        lines += [f"  {p}" for p in reversed(order)]
    if missing.unknown:
        lines.append("don't know how to build these paths:")
        lines += [f"  {p}" for p in sorted(missing.unknown)]
    return "".join(line + "\n" for line in lines)


def to_scheduler_targets(targets: Iterable[Installable]) -> list[str | Target]:
    out: list[str | Target] = []
    for t in targets:
        if isinstance(t, Built):
            out.append((t.drv_path, None if t.outputs is None else set(t.outputs)))
        else:
            out.append(t.path)
    return out


def build(scheduler: Scheduler, targets: list[Installable], *, check: bool = False) -> BuildReport:
    return scheduler.build(to_scheduler_targets(targets), check=check)


def output_paths(store: Store, target: Built) -> dict[str, str]:
    """Output name -> path of the wanted outputs of a derivation target."""
    drv = read_derivation(store, target.drv_path)
    names = wanted_outputs(drv, target.drv_path, target.outputs)
    out: dict[str, str] = {}
    for name in names:
        path = drv.outputs[name].path
        if not path:
            path = store.query_derivation_outputs(target.drv_path).get(name, "")
        if not path:
            raise CommandError(
                f"the path of output '{name}' of '{target.drv_path}' is not known yet"
            )
        out[name] = path
    return out


def group_targets(targets: Iterable[Installable]) -> list[Installable]:
    """The targets with the outputs wanted of each derivation merged, derivations
    first in order of their names (as ``nix build`` lists its results), then
    plain paths."""
    built: dict[str, set[str] | None] = {}
    opaque: dict[str, Opaque] = {}
    whats: dict[str, str] = {}
    for t in targets:
        if isinstance(t, Built):
            whats.setdefault(t.drv_path, t.what)
            if t.drv_path in built:
                have = built[t.drv_path]
                if have is None or t.outputs is None:
                    built[t.drv_path] = None
                else:
                    have |= t.outputs
            else:
                built[t.drv_path] = None if t.outputs is None else set(t.outputs)
        else:
            opaque.setdefault(t.path, t)
    grouped: list[Installable] = []
    for drv_path in sorted(built, key=lambda p: (p[44:], p)):
        outs = built[drv_path]
        grouped.append(Built(drv_path, None if outs is None else frozenset(outs),
                             whats[drv_path]))  # fmt: skip
    plain: list[Opaque] = sorted(opaque.values(), key=lambda o: (o.path[44:], o.path))
    grouped.extend(plain)
    return grouped
