"""Reading files of valid store paths, as Nix's store accessor does: the path
must be valid, and what is inside is looked at without following symlinks."""

from __future__ import annotations

import os
import stat

from ..installables import store_file_arg
from ..storeopts import CommandError, StoreContext


def locate(ctx: StoreContext, arg: str) -> tuple[str, str]:
    """(logical path, real path) of a file in a valid store path."""
    store_path, rest = store_file_arg(ctx, arg)
    if not ctx.store.is_valid_path(store_path):
        raise CommandError(f"path '{store_path}' is not valid")
    logical = store_path + ("/" + rest if rest else "")
    return logical, ctx.store.real_path(logical)


def lstat_or_none(real: str) -> os.stat_result | None:
    try:
        return os.lstat(real)
    except (FileNotFoundError, NotADirectoryError):
        return None


def kind(st: os.stat_result) -> str:
    if stat.S_ISREG(st.st_mode):
        return "regular"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    return "unknown"
