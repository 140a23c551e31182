"""``pynix build``: build installables and leave ``result`` links, as ``nix build`` does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from . import jsonout
from .common import UsageError
from .installables import Built, InstallableFlags, Opaque, Target, resolve
from .nixcmd import usage_error
from .realise import build, group_targets, missing_text, output_paths, query_missing
from .storeopts import StoreContext, StoreFlags, guarded, need, report_build

HELP = """\
Usage: pynix build [OPTION...] [INSTALLABLE...]

Build derivations and make 'result' symlinks to their outputs (garbage
collector roots).

  pynix build -f release.nix hello
  pynix build --expr 'derivation { ... }' --json
  pynix build /nix/store/...-hello.drv^out,dev -o hello

Installables:
  -f FILE, --file FILE   INSTALLABLEs are attribute paths in FILE (none: the whole
                         value); derivations found there are built
  --expr EXPR, -E EXPR   the same with the value of EXPR
  /nix/store/x.drv[^OUTPUTS]
                         the outputs of a derivation (OUTPUTS: out,dev or *)
  /nix/store/x, ./result a store path (built or fetched if it is not valid)

Options:
  -o LINK, --out-link LINK
                         name the links LINK, LINK-1, LINK-dev... (default: result)
  --no-link              make no links
  --json                 print [{"drvPath": ..., "outputs": {...}}] on standard output
  --print-out-paths      print the output paths, one per line
  --dry-run              only show what would be built
  --rebuild, --check     build again and compare with the registered outputs
  --arg NAME EXPR, --argstr NAME STRING, -I PATH, --show-trace
                         evaluation options, as for 'pynix eval'

Store and build options (also for the other store commands):
  --store URL            the store (default: $PYNIX_STORE, else the 'store' setting)
  --option NAME VALUE    set a pynix.conf setting
  -j N, --max-jobs N     builds to run at once
  --cores N              CPU cores each build may use (NIX_BUILD_CORES)
  -K, --keep-failed      keep the build directory of a failed build
  -k, --keep-going       go on with other builds after one fails
  -L, --print-build-logs show the output of builders
"""


class Options:
    def __init__(self) -> None:
        self.store = StoreFlags()
        self.inst = InstallableFlags()
        self.out_link: str | None = None
        self.no_link = False
        self.json = False
        self.print_out_paths = False
        self.dry_run = False
        self.check = False
        self.help = False


def parse_args(argv: list[str]) -> Options:
    o = Options()
    i = 0
    while i < len(argv):
        a = argv[i]
        j = o.store.take(argv, i)
        if j == i:
            j = o.inst.take(argv, i)
        if j != i:
            i = j
            continue
        if a in ("--help", "-h"):
            o.help = True
        elif a in ("-o", "--out-link"):
            o.out_link = need(argv, i)[0]
            i += 1
        elif a == "--no-link":
            o.no_link = True
        elif a == "--json":
            o.json = True
        elif a == "--print-out-paths":
            o.print_out_paths = True
        elif a == "--dry-run":
            o.dry_run = True
        elif a in ("--rebuild", "--check"):
            o.check = True
        elif a == "--":
            o.inst.args.extend(argv[i + 1 :])
            break
        elif a.startswith("-") and a != "-":
            raise UsageError(f"unrecognised flag '{a}'")
        else:
            o.inst.args.append(a)
        i += 1
    return o


def result_entry(ctx: StoreContext, target: Target) -> dict[str, object]:
    if isinstance(target, Opaque):
        return {"path": target.path}
    return {"drvPath": target.drv_path, "outputs": output_paths(ctx.store, target)}


def make_links(ctx: StoreContext, targets: list[Target], base: str) -> None:
    """``result``, ``result-1``, ``result-1-dev``...: the i-th target (from 0) gets
    ``-i`` after the first, an output other than ``out`` gets ``-<output>``."""
    store = ctx.local
    for i, target in enumerate(targets):
        stem = base if i == 0 else f"{base}-{i}"
        if isinstance(target, Opaque):
            store.add_perm_root(target.path, ctx.path(stem))
            continue
        for name, path in output_paths(store, target).items():
            link = stem if name == "out" else f"{stem}-{name}"
            store.add_perm_root(path, ctx.path(link))


def execute(o: Options, ctx: StoreContext, stdin: IO[bytes]) -> int:
    scheduler = ctx.scheduler()
    targets = group_targets(resolve(ctx, o.inst, stdin, scheduler))
    if o.dry_run:
        ctx.stderr.write(missing_text(ctx.store, query_missing(ctx.store, targets)).encode())
    else:
        report = build(scheduler, targets, check=o.check)
        if report_build(report, ctx.stderr, show_tail=not ctx.print_build_logs):
            return 1
        if not o.no_link:
            make_links(ctx, targets, o.out_link or "result")
    if o.json:
        entries = [result_entry(ctx, t) for t in targets]
        ctx.stdout.write(jsonout.compact(entries) + b"\n")
    if o.print_out_paths and not o.dry_run:
        for t in targets:
            paths = [t.path] if isinstance(t, Opaque) else list(output_paths(ctx.store, t).values())
            for p in paths:
                ctx.stdout.write(p.encode("utf-8", "surrogateescape") + b"\n")
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
        o = parse_args(argv)
        o.inst.check()
    except UsageError as e:
        return usage_error(stderr, "pynix build", str(e))
    if o.help:
        stdout.write(HELP.encode())
        return 0

    def body() -> int:
        with o.store.open(env, cwd, stdout, stderr) as ctx:
            return execute(o, ctx, stdin)

    return guarded(body, stderr, stdout, o.inst.eval.show_trace)


__all__ = ["Built", "main_impl"]
