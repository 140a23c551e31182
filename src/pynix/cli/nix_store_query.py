"""``pynix-store --query``: the queries of the classic ``nix-store -q``, with its
output formats and orders (see :mod:`.pathgraph`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..store.api import InvalidPath, Store
from .installables import Built, follow_links_to_store_path
from .pathgraph import closure, dot_graph, store_references, topo_sort_paths, tree_lines
from .realise import build, read_derivation
from .storeopts import CommandError, StoreContext, report_build

# query flag -> query name
QUERY_FLAGS = {
    "--outputs": "outputs", "--requisites": "requisites", "-R": "requisites",
    "--references": "references", "--referrers": "referrers",
    "--referrers-closure": "referrers-closure", "--deriver": "deriver", "-d": "deriver",
    "--valid-derivers": "valid-derivers", "--binding": "binding", "-b": "binding",
    "--hash": "hash", "--size": "size", "--tree": "tree", "--graph": "graph",
    "--resolve": "resolve", "--roots": "roots",
}


@dataclass
class QueryOptions:
    query: str = "outputs"
    use_output: bool = False
    force_realise: bool = False
    include_outputs: bool = False


def parse_query_flags(flags: list[str]) -> QueryOptions:
    o = QueryOptions()
    chosen: str | None = None
    for f in flags:
        if f in QUERY_FLAGS:
            name = QUERY_FLAGS[f]
            if chosen is not None and chosen != name:
                raise CommandError(f"query type '{f}' conflicts with earlier flag")
            chosen = o.query = name
        elif f in ("--use-output", "-u"):
            o.use_output = True
        elif f in ("--force-realise", "--force-realize", "-f"):
            o.force_realise = True
        elif f == "--include-outputs":
            o.include_outputs = True
        else:
            raise CommandError(f"unknown flag '{f}'")
    return o


def _realise(ctx: StoreContext, path: str) -> None:
    target = Built(path, None, path) if path.endswith(".drv") else None
    if target is None:
        if not ctx.store.is_valid_path(path):
            raise CommandError(f"path '{path}' is not valid")
        return
    report = build(ctx.scheduler(classic=True), [target])
    status = report_build(report, ctx.stderr, show_tail=False)
    if status:
        raise CommandError(f"build of '{path}' failed", status)


def maybe_use_outputs(ctx: StoreContext, path: str, use_output: bool,
                      force_realise: bool) -> list[str]:
    """A derivation stands for its outputs with ``--use-output``."""
    if force_realise:
        _realise(ctx, path)
    if use_output and path.endswith(".drv"):
        drv = read_derivation(ctx.store, path)
        outs = {o.path for o in drv.outputs.values() if o.path}
        if force_realise:
            outs |= set(ctx.store.query_derivation_outputs(path).values())
        return sorted(outs)
    return [path]


def _lines(paths: list[str]) -> str:
    return "".join(p + "\n" for p in paths)


def _dependencies_first(store: Store, paths: set[str]) -> str:
    return _lines(list(reversed(topo_sort_paths(store, paths))))


def _require_valid(store: Store, path: str) -> None:
    if not store.is_valid_path(path):
        raise CommandError(f"path '{path}' is not valid")


def run_query(ctx: StoreContext, o: QueryOptions, args: list[str]) -> str:
    store = ctx.store
    if o.query == "binding":
        if not args:
            raise CommandError("expected binding name")
        binding, args = args[0], args[1:]
    paths = [follow_links_to_store_path(ctx, a) for a in args]

    def each_output(use_output: bool) -> list[str]:
        out: list[str] = []
        for p in paths:
            out += maybe_use_outputs(ctx, p, use_output, o.force_realise)
        return out

    q = o.query
    if q == "outputs":
        return _lines(each_output(True))
    if q in ("requisites", "references", "referrers", "referrers-closure"):
        result: set[str] = set()
        for p in each_output(o.use_output):
            _require_valid(store, p)
            if q == "requisites":
                result |= store.query_closure([p], include_outputs=o.include_outputs)
            elif q == "references":
                result |= store.query_path_info(p).references
            elif q == "referrers":
                result |= store.query_referrers(p)
            else:
                result |= _referrers_closure(store, p)
        return _dependencies_first(store, result)
    if q == "deriver":
        lines = []
        for p in paths:
            _require_valid(store, p)
            lines.append(store.query_path_info(p).deriver or "unknown-deriver")
        return _lines(lines)
    if q == "valid-derivers":
        lines = []
        for p in paths:
            lines += sorted(store.query_valid_derivers(p))
        return _lines(lines)
    if q == "binding":
        out = []
        for p in each_output(o.use_output):
            drv = read_derivation(store, p)
            if binding not in drv.env:
                raise CommandError(
                    f"derivation '{p}' has no environment binding named '{binding}'"
                )
            out.append(drv.env[binding])
        return _lines(out)
    if q in ("hash", "size"):
        out = []
        for p in each_output(o.use_output):
            try:
                info = store.query_path_info(p)
            except InvalidPath:
                raise CommandError(f"path '{p}' is not valid") from None
            out.append(info.nar_hash if q == "hash" else str(info.nar_size))
        return _lines(out)
    if q == "tree":
        for p in paths:
            _require_valid(store, p)
        return _lines(list(tree_lines(paths, store_references(store))))
    if q == "graph":
        roots = set(each_output(o.use_output))
        for p in roots:
            _require_valid(store, p)
        return dot_graph(roots, store_references(store))
    if q == "resolve":
        return _lines(paths)
    if q == "roots":
        targets = set(each_output(o.use_output))
        alive = _referrers_closure_many(ctx, targets)
        lines = sorted(f"{link} -> {target}" for target, links in store.find_roots().items()
                       if target in alive for link in links)  # fmt: skip
        return _lines(lines)
    raise CommandError(f"unknown query '{q}'")


def _referrers_closure(store: Store, path: str) -> set[str]:
    return closure([path], lambda p: store.query_referrers(p) - {p})


def _referrers_closure_many(ctx: StoreContext, paths: set[str]) -> set[str]:
    """What keeps ``paths`` alive when it is alive: their referrers, transitively,
    and with keep-derivations the outputs of derivations (which keep their
    derivers), with keep-outputs the derivers of paths."""
    store = ctx.store
    keep_outputs = bool(ctx.config["keep-outputs"])
    keep_derivations = bool(ctx.config["keep-derivations"])

    def up(p: str) -> set[str]:
        found = store.query_referrers(p) - {p}
        if keep_outputs:
            found |= store.query_valid_derivers(p)
        if keep_derivations and p.endswith(".drv"):
            found |= {o for o in store.query_derivation_outputs(p).values()
                      if store.is_valid_path(o)}  # fmt: skip
        return found

    step: Callable[[str], set[str]] = up
    return closure(paths, step)
