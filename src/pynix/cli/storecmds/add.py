"""``pynix store add``: copy files or trees into the store (``nix store add-path``,
``add-file``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import IO

from ...compat.hashing import BadHash, hash_file, parse_hash_algo
from ...compat.nar import NarError, nar_hash
from ...compat.storepath import BadStorePath, check_name, make_fixed_output_path
from .. import jsonout
from ..common import UsageError
from ..storeopts import CommandError, StoreContext, need, store_command

HELP = """\
Usage: pynix store add [OPTION...] PATH...

Copy files or directory trees into the store as content-addressed paths and
print the store paths.

  pynix store add ./src                 # a tree (NAR), like 'nix store add-path'
  pynix store add --mode flat hello.txt # a file's bytes, like 'nix store add-file'

  --mode nar|flat        hash the NAR of the tree (default) or the bytes of a file
  -n NAME, --name NAME   the name of the store path (default: the base name)
  --hash-algo ALGO       sha256 (default), sha1, sha512, md5
  --dry-run              print the store paths without adding anything
  --json                 print a JSON list of the store paths
"""


class Options:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.name: str | None = None
        self.algo = "sha256"
        self.dry_run = False
        self.json = False

    def flag(self, argv: list[str], i: int) -> int:
        a = argv[i]
        if a == "--mode":
            mode = need(argv, i)[0]
            if mode not in ("nar", "flat", "recursive"):
                raise UsageError(f"unknown mode '{mode}' (expected 'nar' or 'flat')")
            self.mode = "nar" if mode == "recursive" else mode
            return i + 2
        if a in ("-n", "--name"):
            self.name = need(argv, i)[0]
            return i + 2
        if a == "--hash-algo":
            self.algo = need(argv, i)[0]
            return i + 2
        if a == "--dry-run":
            self.dry_run = True
            return i + 1
        if a == "--json":
            self.json = True
            return i + 1
        return i


def make_main(prog: str, help_text: str, default_mode: str) -> Callable[..., int]:
    def main_impl(
        argv: list[str],
        stdin: IO[bytes],
        stdout: IO[bytes],
        stderr: IO[bytes],
        env: Mapping[str, str] | None,
        cwd: str | None,
    ) -> int:
        o = Options(default_mode)

        def body(ctx: StoreContext, args: list[str]) -> int:
            if not args:
                raise CommandError("no paths to add")
            paths = [add_one(ctx, a, recursive=o.mode == "nar", name=o.name, algo=o.algo,
                             dry_run=o.dry_run) for a in args]  # fmt: skip
            if o.json:
                ctx.stdout.write(jsonout.compact(paths))
            else:
                for p in paths:
                    ctx.stdout.write(p.encode("utf-8", "surrogateescape") + b"\n")
            return 0

        return store_command(prog, help_text, argv, stdout, stderr, env, cwd, body, o.flag)

    return main_impl


def add_one(ctx: StoreContext, arg: str, *, recursive: bool, name: str | None, algo: str,
            dry_run: bool) -> str:
    src = ctx.path(arg)
    name = os.path.basename(src) if name is None else name
    if not dry_run:
        return ctx.store.add_to_store(src, name, recursive=recursive, algo=algo)
    try:
        check_name(name)
        hash_algo = parse_hash_algo(algo)
        digest = nar_hash(src, hash_algo) if recursive else hash_file(hash_algo, src)
        return make_fixed_output_path(name, digest, recursive)
    except (BadStorePath, BadHash, NarError) as e:
        raise CommandError(str(e)) from None


main_impl = make_main("pynix store add", HELP, "nar")
