"""``pynix path-info``: the metadata of store paths, as ``nix path-info`` (Nix 2.8)
prints it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from ..compat.hashing import Hash
from ..store.api import InvalidPath, PathInfo, Store, StoreError
from . import jsonout
from .common import UsageError
from .installables import Built, InstallableFlags, resolve
from .nixcmd import usage_error
from .pathgraph import closure, store_references, topo_sort_paths
from .realise import output_paths
from .storeopts import CommandError, StoreContext, StoreFlags, guarded

HELP = """\
Usage: pynix path-info [OPTION...] INSTALLABLE...

Show information about store paths: without options just the paths (a
derivation stands for its outputs, which are not built).

  pynix path-info -rsS ./result
  pynix path-info --json -r /nix/store/...-hello

  -r, --recursive        the whole closure of the paths
  -s, --size             the NAR size of each path
  -S, --closure-size     the size of each path's closure
  -h, --human-readable   sizes in KiB, MiB...
  --sigs                 signatures ('ultimate' for paths built or added here,
                         'ca:...' for content-addressed ones)
  --json                 JSON: path, narHash, narSize, references, ca,
                         closureSize (with -S), deriver, registrationTime,
                         ultimate, signatures
  --all                  every valid path
  -f FILE, --expr EXPR, --store URL...
                         as for 'pynix build'
"""

_UNITS = " KMGTPEZY"


class Options:
    def __init__(self) -> None:
        self.store = StoreFlags()
        self.inst = InstallableFlags()
        self.recursive = False
        self.size = False
        self.closure_size = False
        self.human = False
        self.sigs = False
        self.json = False
        self.all = False


def parse_args(argv: list[str], stdout: IO[bytes]) -> Options | None:
    o = Options()
    i = 0
    short = {"r": "recursive", "s": "size", "S": "closure_size", "h": "human"}
    while i < len(argv):
        a = argv[i]
        j = o.store.take(argv, i)
        if j == i:
            j = o.inst.take(argv, i)
        if j != i:
            i = j
            continue
        if a == "--help":
            stdout.write(HELP.encode())
            return None
        if a == "--recursive":
            o.recursive = True
        elif a == "--size":
            o.size = True
        elif a == "--closure-size":
            o.closure_size = True
        elif a == "--human-readable":
            o.human = True
        elif a == "--sigs":
            o.sigs = True
        elif a == "--json":
            o.json = True
        elif a == "--all":
            o.all = True
        elif a.startswith("-") and not a.startswith("--") and len(a) > 1 \
                and all(c in short for c in a[1:]):
            for c in a[1:]:
                setattr(o, short[c], True)
        elif a.startswith("-") and a != "-":
            raise UsageError(f"unrecognised flag '{a}'")
        else:
            o.inst.args.append(a)
        i += 1
    return o


def format_size(n: int, human: bool) -> str:
    if not human:
        return f"\t{n:11d}"
    power = 0
    value = float(n)
    while value > 1024 and power < len(_UNITS) - 1:
        power += 1
        value /= 1024
    return f"\t{value:6.1f}{_UNITS[power]}"


def closure_size(store: Store, path: str) -> int:
    return sum(store.query_path_info(p).nar_size
               for p in closure([path], store_references(store)))  # fmt: skip


def sig_words(info: PathInfo) -> list[str]:
    words = ["ultimate"] if info.ultimate else []
    if info.ca:
        words.append("ca:" + info.ca)
    words += sorted(info.signatures)
    return words


def info_json(store: Store, path: str, with_closure_size: bool) -> dict[str, Any]:
    try:
        info = store.query_path_info(path)
    except InvalidPath:
        return {"path": path, "valid": False}
    entry: dict[str, Any] = {
        "path": info.path,
        "narHash": Hash.parse(info.nar_hash, "sha256").to_sri(),
        "narSize": info.nar_size,
        "references": sorted(info.references),
    }
    if info.ca:
        entry["ca"] = info.ca
    if with_closure_size:
        entry["closureSize"] = closure_size(store, path)
    if info.deriver:
        entry["deriver"] = info.deriver
    if info.registration_time:
        entry["registrationTime"] = info.registration_time
    if info.ultimate:
        entry["ultimate"] = True
    if info.signatures:
        entry["signatures"] = sorted(info.signatures)
    return entry


def selected_paths(o: Options, ctx: StoreContext, stdin: IO[bytes]) -> set[str]:
    store = ctx.store
    if o.all:
        return store.query_all_valid_paths()
    paths: set[str] = set()
    for t in resolve(ctx, o.inst, stdin, None):
        if isinstance(t, Built):
            paths.update(output_paths(store, t).values())
        else:
            paths.add(t.path)
    if o.recursive:
        for p in paths:
            if not store.is_valid_path(p):
                raise CommandError(f"path '{p}' is not valid")
        paths = closure(paths, store_references(store))
    return paths


def execute(o: Options, ctx: StoreContext, stdin: IO[bytes]) -> int:
    store = ctx.store
    paths = selected_paths(o, ctx, stdin)
    if o.json:
        entries = [info_json(store, p, o.closure_size) for p in sorted(paths)]
        ctx.stdout.write(jsonout.compact(entries))
        return 0
    order = list(reversed(topo_sort_paths(store, paths)))
    width = max((len(p) for p in order), default=0)
    for p in order:
        try:
            info = store.query_path_info(p)
        except StoreError:
            raise CommandError(f"path '{p}' is not valid") from None
        line = p
        if o.size or o.closure_size or o.sigs:
            line += " " * (width - len(p))
        if o.size:
            line += format_size(info.nar_size, o.human)
        if o.closure_size:
            line += format_size(closure_size(store, p), o.human)
        if o.sigs:
            line += "\t" + " ".join(sig_words(info))
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
    try:
        o = parse_args(argv, stdout)
        if o is None:
            return 0
        o.inst.check()
    except UsageError as e:
        return usage_error(stderr, "pynix path-info", str(e))

    def body() -> int:
        assert o is not None
        with o.store.open(env, cwd, stdout, stderr) as ctx:
            return execute(o, ctx, stdin)

    return guarded(body, stderr, stdout, o.inst.eval.show_trace)
