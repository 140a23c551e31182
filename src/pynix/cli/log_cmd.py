"""``pynix log``: the build log of a derivation, as ``nix log`` prints it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from ..build.logs import default_log_dir, read_log
from ..store.api import InvalidPath
from .common import UsageError
from .installables import Built, InstallableFlags, Opaque, resolve
from .nixcmd import usage_error
from .storeopts import CommandError, StoreContext, StoreFlags, guarded

HELP = """\
Usage: pynix log [OPTION...] INSTALLABLE

Print the build log of a derivation: a .drv path, an output path (the log of
the derivation that built it) or a derivation found with --file/--expr.

  pynix log /nix/store/...-hello.drv
  pynix log ./result
  pynix log -f release.nix hello

  -f FILE, --expr EXPR, --store URL...
                         as for 'pynix build'
"""


def log_dir(ctx: StoreContext) -> str:
    return ctx.settings.log_dir or default_log_dir(ctx.store)


def derivation_for_log(ctx: StoreContext, target: Built | Opaque) -> str | None:
    if isinstance(target, Built):
        return target.drv_path
    if target.path.endswith(".drv"):
        return target.path
    try:
        deriver = ctx.store.query_path_info(target.path).deriver
    except InvalidPath:
        deriver = None
    if deriver is None:
        derivers = ctx.store.query_valid_derivers(target.path)
        deriver = min(derivers) if derivers else None
    return deriver


def build_log(ctx: StoreContext, target: Built | Opaque) -> bytes:
    drv_path = derivation_for_log(ctx, target)
    log = read_log(log_dir(ctx), drv_path) if drv_path else None
    if log is None:
        raise CommandError(f"build log of '{target.what}' is not available")
    return log


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
            if a.startswith("-") and a != "-":
                raise UsageError(f"unrecognised flag '{a}'")
            flags.args.append(a)
            i += 1
        flags.check()
        if len(flags.args) > 1:
            raise UsageError(f"unexpected argument '{flags.args[1]}'")
    except UsageError as e:
        return usage_error(stderr, "pynix log", str(e))

    def body() -> int:
        with store_flags.open(env, cwd, stdout, stderr) as ctx:
            targets = resolve(ctx, flags, stdin, None)
            if len(targets) != 1:
                raise CommandError(f"'{flags.args[0] if flags.args else ''}' stands for "
                                   f"{len(targets)} derivations; 'pynix log' shows one")
            stdout.write(build_log(ctx, targets[0]))
            stdout.flush()
            return 0

    return guarded(body, stderr, stdout, flags.eval.show_trace)
