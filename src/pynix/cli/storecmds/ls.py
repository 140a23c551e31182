"""``pynix store ls``: list a directory of a store path (``nix store ls``)."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import IO, Any

from .. import jsonout
from ..storeopts import CommandError, StoreContext, store_command
from .access import kind, locate, lstat_or_none

HELP = """\
Usage: pynix store ls [OPTION...] PATH

List the contents of a path in the store, as 'nix store ls' does.

  pynix store ls -lR /nix/store/...-hello

  -l, --long             mode, size and symlink targets
  -R, --recursive        list subdirectories too
  -d, --directory        show a directory itself rather than its contents
  --json                 JSON (with -R: the whole tree)
"""


class Options:
    def __init__(self) -> None:
        self.long = False
        self.recursive = False
        self.directory = False
        self.json = False

    def flag(self, argv: list[str], i: int) -> int:
        a = argv[i]
        names = {"-l": "long", "--long": "long", "-R": "recursive", "--recursive": "recursive",
                 "-d": "directory", "--directory": "directory", "--json": "json"}
        if a in names:
            setattr(self, names[a], True)
            return i + 1
        if a.startswith("-") and not a.startswith("--") and len(a) > 2 \
                and all(f"-{c}" in names for c in a[1:]):
            for c in a[1:]:
                setattr(self, names[f"-{c}"], True)
            return i + 1
        return i


def _entries(real: str) -> list[str]:
    return sorted(os.fsdecode(n) for n in os.listdir(os.fsencode(real)))


def list_text(o: Options, real: str, rel: str, out: list[str]) -> None:
    def show(cur: str, relpath: str) -> None:
        st = os.lstat(cur)
        if o.long:
            if stat.S_ISREG(st.st_mode):
                mode = "-r-xr-xr-x" if st.st_mode & 0o100 else "-r--r--r--"
                size = st.st_size
            else:
                mode = "lrwxrwxrwx" if stat.S_ISLNK(st.st_mode) else "dr-xr-xr-x"
                size = 0
            line = f"{mode} {size:20d} {relpath}"
            if stat.S_ISLNK(st.st_mode):
                line += " -> " + os.readlink(cur)
            out.append(line)
        else:
            out.append(relpath)
        if o.recursive and stat.S_ISDIR(st.st_mode):
            walk(cur, relpath, False)

    def walk(cur: str, relpath: str, show_directory: bool) -> None:
        st = os.lstat(cur)
        if stat.S_ISDIR(st.st_mode) and not show_directory:
            for name in _entries(cur):
                show(os.path.join(cur, name), f"{relpath}/{name}")
        else:
            show(cur, relpath)

    walk(real, rel, o.directory)


def list_json(real: str, recursive: bool) -> dict[str, Any]:
    st = os.lstat(real)
    k = kind(st)
    if k == "regular":
        entry: dict[str, Any] = {"type": "regular", "size": st.st_size}
        if st.st_mode & 0o100:
            entry["executable"] = True
        return entry
    if k == "directory":
        entries: dict[str, Any] = {}
        for name in _entries(real):
            entries[name] = list_json(os.path.join(real, name), True) if recursive else {}
        return {"type": "directory", "entries": entries}
    if k == "symlink":
        return {"type": "symlink", "target": os.readlink(real)}
    raise CommandError(f"path '{real}' is not a file, directory or symlink")


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    o = Options()

    def body(ctx: StoreContext, args: list[str]) -> int:
        if len(args) != 1:
            raise CommandError("expected one path")
        logical, real = locate(ctx, args[0])
        st = lstat_or_none(real)
        if st is None:
            raise CommandError(f"path '{logical}' does not exist")
        if o.json:
            ctx.stdout.write(jsonout.compact(list_json(real, o.recursive)))
            return 0
        lines: list[str] = []
        rel = "." if stat.S_ISDIR(st.st_mode) else os.path.basename(logical)
        list_text(o, real, rel, lines)
        for line in lines:
            ctx.stdout.write(line.encode("utf-8", "surrogateescape") + b"\n")
        return 0

    return store_command("pynix store ls", HELP, argv, stdout, stderr, env, cwd, body, o.flag)
