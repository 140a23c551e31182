"""``pynix why-depends``: why a store path has another in its closure, as ``nix
why-depends`` (Nix 2.8) shows it.

The closure of PACKAGE is searched from DEPENDENCY backwards, so that every
path knows its distance to it; the tree then follows references, nearest
first: one shortest chain, or with ``--all`` every edge that leads there.
With ``--precise`` each edge shows where the reference is: the first
occurrence of the referenced path's hash part in each file (with 32
characters of context, non-printable ones as ``.``) or symlink target.
Like Nix, the output carries terminal colour codes.
"""

from __future__ import annotations

import collections
import contextlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

from ..store.api import Store
from .common import UsageError
from .installables import Built, InstallableFlags, Opaque, Target, parse_path_installable
from .installables import resolve as resolve_installables
from .nixcmd import usage_error
from .pathgraph import TREE_CONN, TREE_LAST, TREE_LINE, TREE_NULL, closure, store_references
from .realise import build, output_paths
from .storeopts import CommandError, StoreContext, StoreFlags, guarded, report_build

HELP = """\
Usage: pynix why-depends [OPTION...] PACKAGE DEPENDENCY

Show why PACKAGE has DEPENDENCY in its closure: a shortest chain of references
from one to the other.  PACKAGE is built if needed.

  pynix why-depends ./result /nix/store/...-glibc-2.36
  pynix why-depends --precise -f release.nix hello glibc

  -a, --all              every edge that leads to DEPENDENCY, not just one chain
  --precise              show the files (and the text around the reference) that
                         make each edge
  --derivation           compare the derivations instead of their outputs
  -f FILE, --expr EXPR, --store URL...
                         as for 'pynix build' (both arguments are then attribute
                         paths)
"""

GREY = "\x1b[38;5;244m"
NORMAL = "\x1b[0m"
GREEN = "\x1b[32;1m"
BLUE = "\x1b[34;1m"
HASH_LEN = 32
MARGIN = 32
INF = float("inf")


@dataclass
class Node:
    path: str
    refs: list[str]
    rrefs: set[str] = field(default_factory=set)
    dist: float = INF
    visited: bool = False


class _BailOut(Exception):
    pass


def _printable(data: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)


def _hilite(s: str, pos: int, length: int, colour: str) -> str:
    return s[:pos] + colour + s[pos : pos + length] + NORMAL + s[pos + length :]


def find_hits(real_root: str, hashes: list[str], dependency_hash: str) -> dict[str, list[str]]:
    """Hash part -> where it occurs in the files of a path (``file: …text…``)."""
    hits: dict[str, list[str]] = collections.defaultdict(list)

    def colour(h: str) -> str:
        return GREEN if h == dependency_hash else BLUE

    def visit(real: str, rel: str) -> None:
        st = os.lstat(real)
        shown = rel or "/"
        if stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(os.fsencode(real))):
                visit(os.path.join(real, os.fsdecode(name)),
                      os.fsdecode(name) if not rel else f"{rel}/{os.fsdecode(name)}")
        elif stat.S_ISREG(st.st_mode):
            with open(real, "rb") as fh:
                contents = fh.read()
            for h in hashes:
                pos = contents.find(h.encode())
                if pos < 0:
                    continue
                start = max(0, pos - MARGIN)
                text = _printable(contents[start : pos + len(h) + MARGIN])
                hits[h].append(f"{shown}: …{_hilite(text, pos - start, HASH_LEN, colour(h))}…")
        elif stat.S_ISLNK(st.st_mode):
            target = os.fsdecode(os.readlink(real))
            for h in hashes:
                pos = target.find(h)
                if pos >= 0:
                    hits[h].append(f"{shown} -> {_hilite(target, pos, HASH_LEN, colour(h))}")

    visit(real_root, "")
    return hits


def _hash_part(path: str) -> str:
    return os.path.basename(path)[:HASH_LEN]


def why_depends(store: Store, package: str, dependency: str, *, all_edges: bool,
                precise: bool) -> list[str]:
    """The lines of the tree (without newlines)."""
    refs_of = store_references(store)
    graph = {p: Node(p, sorted(refs_of(p))) for p in closure([package], refs_of)}
    for node in graph.values():
        for ref in node.refs:
            graph[ref].rrefs.add(node.path)
    graph[dependency].dist = 0
    queue = collections.deque([dependency])
    while queue:
        node = graph[queue.popleft()]
        for rref in sorted(node.rrefs):
            other = graph[rref]
            if node.dist + 1 < other.dist:
                other.dist = node.dist + 1
                queue.append(rref)

    lines: list[str] = []
    dep_hash = _hash_part(dependency)

    def print_node(node: Node, first_pad: str, tail_pad: str) -> None:
        if precise:
            lines.append(f"{first_pad}{GREY if node.visited else ''}"
                         f"{'→ ' if first_pad else ''}{node.path}{NORMAL}")  # fmt: skip
        if node.path == dependency and not all_edges and package != dependency:
            raise _BailOut
        if node.visited:
            return
        if precise:
            node.visited = True
        refs = [graph[r] for r in node.refs
                if not (r == node.path and package != dependency) and graph[r].dist != INF]
        refs.sort(key=lambda n: n.dist)
        hits: dict[str, list[str]] = {}
        if precise:
            hashes = sorted({_hash_part(r.path) for r in refs})
            hits = find_hits(store.real_path(node.path), hashes, dep_hash)
        for n, ref in enumerate(refs):
            last = n + 1 == len(refs) if all_edges else True
            for k, hit in enumerate(hits.get(_hash_part(ref.path), [])):
                if k == 0:
                    lead = TREE_LAST if last else TREE_CONN
                else:
                    lead = TREE_NULL if last else TREE_LINE
                lines.append(tail_pad + lead + hit)
                if not all_edges:
                    break
            if not precise:
                lines.append(f"{first_pad}{GREY if ref.visited else ''}"
                             f"{TREE_LAST if last else TREE_CONN}{ref.path}{NORMAL}")  # fmt: skip
                node.visited = True
            pad = tail_pad + (TREE_NULL if last else TREE_LINE)
            print_node(ref, pad, pad)

    if not precise:
        lines.append(package)
    with contextlib.suppress(_BailOut):
        print_node(graph[package], "", "")
    return lines


def _one(targets: list[Target], what: str) -> Target:
    if len(targets) != 1:
        raise CommandError(f"'{what}' stands for {len(targets)} store paths, not one")
    return targets[0]


def _path_of(ctx: StoreContext, target: Target, derivation: bool) -> str:
    if isinstance(target, Opaque):
        return target.path
    if derivation:
        return target.drv_path
    outputs = output_paths(ctx.store, target)
    if len(outputs) != 1:
        raise CommandError(f"'{target.what}' has {len(outputs)} outputs; select one")
    return next(iter(outputs.values()))


def _resolve(ctx: StoreContext, flags: InstallableFlags, arg: str, stdin: IO[bytes]) -> Target:
    if flags.evaluating:
        saved = flags.args
        flags.args = [arg]
        try:
            return _one(resolve_installables(ctx, flags, stdin, ctx.scheduler()), arg)
        finally:
            flags.args = saved
    if "/" not in arg:
        raise CommandError(f"cannot use '{arg}': flake references are not supported yet")
    return parse_path_installable(ctx, arg)


def execute(ctx: StoreContext, flags: InstallableFlags, all_edges: bool, precise: bool,
            derivation: bool, stdin: IO[bytes]) -> int:
    package_arg, dependency_arg = flags.args
    package_target = _resolve(ctx, flags, package_arg, stdin)
    dependency_target = _resolve(ctx, flags, dependency_arg, stdin)
    if not derivation:
        report = build(ctx.scheduler(), [package_target])
        if report_build(report, ctx.stderr, show_tail=True):
            return 1
    elif isinstance(package_target, Built) and not ctx.store.is_valid_path(
            package_target.drv_path):
        raise CommandError(f"path '{package_target.drv_path}' is not valid")
    package = _path_of(ctx, package_target, derivation)
    dependency = _path_of(ctx, dependency_target, derivation)
    if dependency not in closure([package], store_references(ctx.store)):
        ctx.stderr.write(f"'{package_arg}' does not depend on '{dependency_arg}'\n"
                         .encode("utf-8", "surrogateescape"))
        return 0
    for line in why_depends(ctx.store, package, dependency, all_edges=all_edges,
                            precise=precise):
        ctx.stdout.write(line.encode("utf-8", "surrogateescape") + b"\n")
    return 0


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    store_flags = StoreFlags()
    flags = InstallableFlags()
    all_edges = precise = derivation = False
    try:
        i = 0
        while i < len(argv):
            a = argv[i]
            j = store_flags.take(argv, i)
            if j == i:
                j = flags.take(argv, i)
            if j != i:
                i = j
                continue
            if a in ("--help", "-h"):
                stdout.write(HELP.encode())
                return 0
            if a in ("-a", "--all"):
                all_edges = True
            elif a == "--precise":
                precise = True
            elif a == "--derivation":
                derivation = True
            elif a.startswith("-") and a != "-":
                raise UsageError(f"unrecognised flag '{a}'")
            else:
                flags.args.append(a)
            i += 1
        flags.check()
        if len(flags.args) != 2:
            raise UsageError("expected two arguments: PACKAGE DEPENDENCY")
    except UsageError as e:
        return usage_error(stderr, "pynix why-depends", str(e))

    def body() -> int:
        with store_flags.open(env, cwd, stdout, stderr) as ctx:
            return execute(ctx, flags, all_edges, precise, derivation, stdin)

    return guarded(body, stderr, stdout, flags.eval.show_trace)
