"""``pynix shell INSTALLABLE... [--command CMD ARGS...]``: build packages and run
a command (default: ``$SHELL``, else bash) with their ``bin`` directories in
front of ``PATH``, as ``nix shell`` does."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO

from . import chrootexec
from .common import UsageError
from .installables import InstallableFlags
from .nixcmd import usage_error
from .pkgsref import PackageResolver
from .run_cmd import build_packages, parse_common, run_prepared
from .storeopts import StoreContext, StoreFlags

HELP = """\
Usage: pynix shell [OPTION...] INSTALLABLE... [--command CMD ARGS...]

Build packages and start a shell (or run CMD) in which their programs are on
PATH: the bin directories of their outputs come first in PATH.

  pynix shell pkgs#hello pkgs#jq
  pynix shell pkgs#hello pkgs#redis --command sh -c 'hello && redis-cli --version'
  pynix shell -f ./tools.nix a b -c mytool --help

Options:
  -c, --command CMD ARGS...
                         run CMD with ARGS (everything after it) instead of $SHELL
  pkgs#ATTR, -f FILE ATTR..., --expr EXPR ATTR..., /nix/store/...
                         the packages (as for 'pynix run')
  --arg NAME EXPR, --argstr NAME STRING, -I PATH, --show-trace
                         evaluation options, as for 'pynix eval'
  --store URL, --option NAME VALUE, -j N, -L ...
                         store and build options, as for 'pynix build'

The exit status is the command's.  With a chroot store (--store 'local?root=DIR')
the command runs in a mount namespace (bubblewrap) where DIR/nix is at /nix.
"""


def main_impl(argv: list[str], stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes],
              env: Mapping[str, str] | None, cwd: str | None) -> int:
    store = StoreFlags()
    inst = InstallableFlags()
    command: list[str] | None = None
    split = len(argv)
    for i, a in enumerate(argv):
        if a in ("-c", "--command"):
            split = i
            command = argv[i + 1 :]
            break
        if a == "--":
            # 'pynix shell pkgs#x -- cmd' is not Nix's syntax, but the intent is clear
            break
    try:
        help_, positional = parse_common(argv[:split], store, inst, lambda a, i: None)
        inst.check()
    except UsageError as e:
        return usage_error(stderr, "pynix shell", str(e))
    if help_:
        stdout.write(HELP.encode())
        return 0
    if command is not None and not command:
        return usage_error(stderr, "pynix shell", "flag '--command' requires a command")
    if not positional and not inst.evaluating:
        return usage_error(stderr, "pynix shell", "give the packages, such as 'pkgs#hello'")

    def prepare(ctx: StoreContext) -> chrootexec.Launch:
        resolver = PackageResolver(ctx, inst, stdin, ctx.scheduler())
        bin_dirs: list[str] = []
        for _, outputs in build_packages(ctx, resolver, positional):
            for path in outputs.values():
                d = f"{path}/bin"
                if d not in bin_dirs and os.path.isdir(chrootexec.real_file(ctx.store, d)):
                    bin_dirs.append(d)
        argv = command or [ctx.env.get("SHELL") or "bash"]
        return chrootexec.Launch(argv, chrootexec.program_env(ctx.env, bin_dirs), ctx.cwd,
                                 chrootexec.chroot_nix_dir(ctx.store))  # fmt: skip

    return run_prepared(prepare, store, inst.eval.show_trace, stdin, stdout, stderr, env, cwd)
