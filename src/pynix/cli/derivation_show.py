"""``pynix derivation show``: a derivation as JSON, as ``nix show-derivation`` (Nix 2.8)
prints it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from ..compat.derivation import Derivation
from ..store.api import Store
from . import jsonout
from .common import UsageError
from .installables import Built, InstallableFlags, resolve
from .nixcmd import usage_error
from .pathgraph import closure, store_references
from .realise import read_derivation
from .storeopts import CommandError, StoreContext, StoreFlags, guarded

HELP = """\
Usage: pynix derivation show [OPTION...] INSTALLABLE...

Print the store derivations of INSTALLABLEs as JSON: outputs, inputs, system,
builder, arguments and environment.  An output path stands for the derivation
that built it.

  pynix derivation show /nix/store/...-hello.drv
  pynix derivation show -r -f release.nix hello

  -r, --recursive        also the derivations it depends on
  -f FILE, --expr EXPR, --arg..., --store URL
                         as for 'pynix build'
"""


def _bytes_key(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def derivation_json(drv: Derivation) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for name in sorted(drv.outputs, key=_bytes_key):
        out = drv.outputs[name]
        entry: dict[str, str] = {}
        if out.path:
            entry["path"] = out.path
        if out.hash_algo:
            entry["hashAlgo"] = out.hash_algo
        if out.hash:
            entry["hash"] = out.hash
        outputs[name] = entry
    return {
        "outputs": outputs,
        "inputSrcs": sorted(drv.input_srcs, key=_bytes_key),
        "inputDrvs": {
            p: sorted(drv.input_drvs[p], key=_bytes_key)
            for p in sorted(drv.input_drvs, key=_bytes_key)
        },
        "system": drv.platform,
        "builder": drv.builder,
        "args": list(drv.args),
        "env": {k: drv.env[k] for k in sorted(drv.env, key=_bytes_key)},
    }


def deriver_of(store: Store, path: str, what: str) -> str:
    derivers = store.query_valid_derivers(path)
    if not derivers:
        raise CommandError(f"'{what}' does not have a known deriver")
    return min(derivers)


def execute(ctx: StoreContext, flags: InstallableFlags, recursive: bool,
            stdin: IO[bytes]) -> int:
    targets = resolve(ctx, flags, stdin, ctx.scheduler())
    drv_paths: set[str] = set()
    for t in targets:
        if isinstance(t, Built):
            drv_paths.add(t.drv_path)
        else:
            drv_paths.add(deriver_of(ctx.store, t.path, t.what))
    if recursive:
        drv_paths = {p for p in closure(drv_paths, store_references(ctx.store))
                     if p.endswith(".drv")}  # fmt: skip
    result = {p: derivation_json(read_derivation(ctx.store, p))
              for p in sorted(drv_paths)}  # fmt: skip
    ctx.stdout.write(jsonout.pretty(result) + b"\n")
    return 0


def make_main(prog: str, help_text: str) -> Any:
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
        recursive = False
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
                    stdout.write(help_text.encode())
                    return 0
                if a in ("-r", "--recursive"):
                    recursive = True
                elif a.startswith("-") and a != "-":
                    raise UsageError(f"unrecognised flag '{a}'")
                else:
                    flags.args.append(a)
                i += 1
            flags.check()
        except UsageError as e:
            return usage_error(stderr, prog, str(e))

        def body() -> int:
            with store_flags.open(env, cwd, stdout, stderr) as ctx:
                return execute(ctx, flags, recursive, stdin)

        return guarded(body, stderr, stdout, flags.eval.show_trace)

    return main_impl


main_impl = make_main("pynix derivation show", HELP)
