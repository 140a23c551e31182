"""``pynix run INSTALLABLE [-- ARGS...]``: build a package and run its program, as
``nix run`` does.

The program is ``bin/<meta.mainProgram>`` of the package's outputs (else
``bin/<pname>``, else ``bin/<name without its version>``); its exit status is
pynix's.  Programs of a chroot store run where the store appears at
``/nix/store`` (:mod:`.chrootexec`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO

from . import chrootexec
from .common import UsageError
from .installables import InstallableFlags, Opaque
from .nixcmd import usage_error
from .pkgsref import Package, PackageResolver
from .realise import build, group_targets, output_paths
from .storeopts import CommandError, StoreContext, StoreFlags, guarded, report_build

HELP = """\
Usage: pynix run [OPTION...] INSTALLABLE [ARGS...]
       pynix run [OPTION...] INSTALLABLE -- ARGS...

Build a package and run its program with ARGS; the exit status is the program's.
The program is bin/NAME of the package, where NAME is its meta.mainProgram, else
its pname, else its name without the version.

  pynix run pkgs#hello
  pynix run pkgs#hello -- --greeting=hi
  pynix run -f ./tools.nix mytool -- --verbose

Installables:
  pkgs#ATTR              a package of pynix's package set (PYNIX_PKGS=FILE chooses
                         another set; PYNIX_ALLOW_UNFREE=1 allows unfree packages)
  -f FILE ATTR, --expr EXPR ATTR
                         an attribute of a Nix file or expression
  /nix/store/...         a store path (or a link to one, such as ./result)

Options:
  --arg NAME EXPR, --argstr NAME STRING, -I PATH, --show-trace
                         evaluation options, as for 'pynix eval'
  --store URL, --option NAME VALUE, -j N, -L ...
                         store and build options, as for 'pynix build'

Programs of a chroot store (--store 'local?root=DIR') run in a mount namespace
(bubblewrap) where DIR/nix is mounted at /nix.
"""


@dataclass
class Prepared:
    """Built packages and their outputs (output name -> store path)."""

    packages: list[tuple[Package, dict[str, str]]]


def parse_common(argv: list[str], store: StoreFlags, inst: InstallableFlags,
                 own: Callable[[list[str], int], int | None]) -> tuple[bool, list[str]]:
    """Store, installable and evaluation flags anywhere; ``own(argv, i)`` handles the
    command's own flags (the next index, or None).  (help?, positional arguments)"""
    positional: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        j = store.take(argv, i)
        if j == i:
            j = inst.take(argv, i)
        if j != i:
            i = j
            continue
        k = own(argv, i)
        if k is not None:
            i = k
            continue
        if a in ("--help", "-h"):
            return True, positional
        if a == "--":
            positional.extend(argv[i + 1 :])
            break
        if a.startswith("-") and a != "-":
            raise UsageError(f"unrecognised flag '{a}'")
        positional.append(a)
        i += 1
    return False, positional


def build_packages(ctx: StoreContext, resolver: PackageResolver,
                   args: list[str]) -> list[tuple[Package, dict[str, str]]]:
    """Resolve installables, build them; each package with its output paths."""
    packages = resolver.resolve_all(args)
    scheduler = resolver.scheduler or ctx.scheduler()
    report = build(scheduler, group_targets(p.target for p in packages))
    if report_build(report, ctx.stderr, show_tail=not ctx.print_build_logs):
        raise AlreadyReported()
    out = []
    for p in packages:
        t = p.target
        paths = {"out": t.path} if isinstance(t, Opaque) else output_paths(ctx.store, t)
        out.append((p, paths))
    return out


class AlreadyReported(CommandError):
    """A failure already reported on standard error."""

    def __init__(self) -> None:
        super().__init__("", 1)


def run_prepared(prepare: Callable[[StoreContext], chrootexec.Launch], store: StoreFlags,
                 show_trace: bool, stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes],
                 env: Mapping[str, str] | None, cwd: str | None) -> int:
    """Evaluate and build (errors reported as usual), then run the program from
    the main thread (so that signals can be forwarded)."""
    launches: list[chrootexec.Launch] = []

    def body() -> int:
        try:
            with store.open(env, cwd, stdout, stderr) as ctx:
                launches.append(prepare(ctx))
        except AlreadyReported:
            return 1
        return 0

    status = guarded(body, stderr, stdout, show_trace)
    if status or not launches:
        return status or 1
    try:
        return chrootexec.run(launches[0], stdin, stdout, stderr)
    except CommandError as e:
        stderr.write(f"error: {e.message}\n".encode("utf-8", "surrogateescape"))
        return e.status


def find_program(ctx: StoreContext, package: Package, outputs: dict[str, str]) -> str:
    """The store path of the program ``pynix run`` runs."""
    name = package.program
    ordered = sorted(outputs.items(), key=lambda kv: (kv[0] not in ("bin", "out"), kv[0]))
    for _, path in ordered:
        candidate = f"{path}/bin/{name}"
        if os.path.isfile(chrootexec.real_file(ctx.store, candidate)):
            return candidate
    first = ordered[0][1] if ordered else "?"
    raise CommandError(f"unable to execute '{first}/bin/{name}': No such file or directory"
                       + (" (set meta.mainProgram to the program to run)"
                          if package.main_program is None else ""))  # fmt: skip


def main_impl(argv: list[str], stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes],
              env: Mapping[str, str] | None, cwd: str | None) -> int:
    store = StoreFlags()
    inst = InstallableFlags()
    # everything after the installable or after '--' is the program's
    split = len(argv)
    if "--" in argv:
        split = argv.index("--")
    try:
        help_, positional = parse_common(argv[:split], store, inst, lambda a, i: None)
        inst.check()
    except UsageError as e:
        return usage_error(stderr, "pynix run", str(e))
    if help_:
        stdout.write(HELP.encode())
        return 0
    if not positional and not inst.evaluating:
        return usage_error(stderr, "pynix run", "give the installable to run, such as "
                                                "'pkgs#hello'")  # fmt: skip
    target_args = positional[:1]
    program_args = positional[1:] + argv[split + 1 :]

    def prepare(ctx: StoreContext) -> chrootexec.Launch:
        resolver = PackageResolver(ctx, inst, stdin, ctx.scheduler())
        built = build_packages(ctx, resolver, target_args)
        if len(built) != 1:
            raise CommandError(f"'{' '.join(target_args) or inst.file or 'the expression'}' "
                               f"stands for {len(built)} packages; 'pynix run' runs one")
        package, outputs = built[0]
        program = find_program(ctx, package, outputs)
        return chrootexec.Launch([program, *program_args], dict(ctx.env), ctx.cwd,
                                 chrootexec.chroot_nix_dir(ctx.store))  # fmt: skip

    return run_prepared(prepare, store, inst.eval.show_trace, stdin, stdout, stderr, env, cwd)
