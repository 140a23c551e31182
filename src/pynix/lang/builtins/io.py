"""Files, imports, the search path and the environment."""

from __future__ import annotations

import hashlib
import os
import stat
from typing import TYPE_CHECKING, Any

from ..errors import EvalError, ThrownError
from ..runtime import (
    coerce_to_string,
    expect_attrs,
    expect_list,
    expect_string,
    expect_string_no_ctx,
)
from ..values import NixPath, StrValue, Thunk, from_bytes, make_str, to_bytes, to_text
from . import eval_primop
from .strings import hash_algo

if TYPE_CHECKING:
    from ..evaluator import Evaluator


def _f(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


def coerce_to_path(v: Any, ctx: set[str] | None = None) -> str:
    """An absolute path from a path value or a string (Nix's coerceToPath)."""
    s = coerce_to_string(_f(v), None, ctx if ctx is not None else set(), copy_to_store=False)
    if not s.startswith("/"):
        raise EvalError(f"string '{to_text(s)}' doesn't represent an absolute path")
    return s


def _fs(path: str) -> bytes:
    return to_bytes(path)


@eval_primop("import", 1)
def import_(ev: Evaluator, path: Any) -> Any:
    ctx: set[str] = set()
    p = coerce_to_path(path, ctx)
    ev.realise_context(ctx)
    return ev.import_file(p)


@eval_primop("scopedImport", 2)
def scoped_import(ev: Evaluator, scope: Any, path: Any) -> Any:
    s = expect_attrs(_f(scope))
    ctx: set[str] = set()
    p = coerce_to_path(path, ctx)
    ev.realise_context(ctx)
    return ev.import_file(p, scope=s)


@eval_primop("readFile", 1)
def read_file(ev: Evaluator, path: Any) -> StrValue:
    ctx: set[str] = set()
    p = coerce_to_path(path, ctx)
    ev.realise_context(ctx)
    p = ev.check_path(p)
    try:
        with open(_fs(p), "rb") as fh:
            data = fh.read()
    except IsADirectoryError:
        raise EvalError(f"reading file '{to_text(p)}': Is a directory") from None
    except OSError as e:
        raise EvalError(f"opening file '{to_text(p)}': {e.strerror}") from None
    if b"\0" in data:
        raise EvalError(
            f"the contents of the file '{to_text(p)}' cannot be represented as a Nix string"
        )
    return make_str(from_bytes(data), ev.store_references(p))


def _file_type(st_mode: int) -> str:
    if stat.S_ISREG(st_mode):
        return "regular"
    if stat.S_ISDIR(st_mode):
        return "directory"
    if stat.S_ISLNK(st_mode):
        return "symlink"
    return "unknown"


@eval_primop("readDir", 1)
def read_dir(ev: Evaluator, path: Any) -> dict[str, str]:
    ctx: set[str] = set()
    p = coerce_to_path(path, ctx)
    ev.realise_context(ctx)
    p = ev.check_path(p)
    try:
        entries = sorted(os.scandir(_fs(p)), key=lambda e: e.name)
    except OSError as e:
        raise EvalError(f"opening directory '{to_text(p)}': {e.strerror}") from None
    out: dict[str, str] = {}
    for entry in entries:
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError:
            out[from_bytes(entry.name)] = "unknown"
            continue
        out[from_bytes(entry.name)] = _file_type(mode)
    return out


@eval_primop("readFileType", 1)
def read_file_type(ev: Evaluator, path: Any) -> str:
    ctx: set[str] = set()
    p = coerce_to_path(path, ctx)
    ev.realise_context(ctx)
    p = ev.check_path(p)
    try:
        st = os.lstat(_fs(p))
    except OSError as e:
        raise EvalError(f"getting status of '{to_text(p)}': {e.strerror}") from None
    return _file_type(st.st_mode)


@eval_primop("pathExists", 1)
def path_exists(ev: Evaluator, path: Any) -> bool:
    ctx: set[str] = set()
    p = coerce_to_path(path, ctx)
    ev.realise_context(ctx)
    try:
        p = ev.check_path(p)
    except EvalError:
        return False
    try:
        os.lstat(_fs(p))
    except OSError:
        return False
    return True


@eval_primop("hashFile", 2)
def hash_file(ev: Evaluator, algo: Any, path: Any) -> str:
    a = hash_algo(algo)
    ctx: set[str] = set()
    p = coerce_to_path(path, ctx)
    ev.realise_context(ctx)
    p = ev.check_path(p)
    h = hashlib.new(a)
    try:
        with open(_fs(p), "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError as e:
        raise EvalError(f"opening file '{to_text(p)}': {e.strerror}") from None
    return h.hexdigest()


@eval_primop("getEnv", 1)
def get_env(ev: Evaluator, name: Any) -> str:
    n = str(expect_string_no_ctx(_f(name)))
    return ev.getenv(n)


@eval_primop("toPath", 1)
def to_path(ev: Evaluator, v: Any) -> StrValue:
    from ..paths import canon_path

    ctx: set[str] = set()
    p = coerce_to_path(v, ctx)
    return make_str(canon_path(p), ctx)


@eval_primop("findFile", 2)
def find_file(ev: Evaluator, search_path: Any, name: Any) -> NixPath:
    entries: list[tuple[str, str]] = []
    for item in expect_list(_f(search_path)):
        d = expect_attrs(_f(item))
        prefix = ""
        if "prefix" in d:
            prefix = str(expect_string_no_ctx(_f(d["prefix"])))
        if "path" not in d:
            raise EvalError("attribute 'path' missing")
        ctx: set[str] = set()
        p = coerce_to_string(_f(d["path"]), None, ctx, copy_to_store=False)
        ev.realise_context(ctx)
        entries.append((prefix, p))
    n = str(expect_string(_f(name)))
    found = ev.find_file(entries, n)
    if found is None:
        raise ThrownError(
            f"file '{to_text(n)}' was not found in the Nix search path "
            "(add it using $NIX_PATH or -I)"
        )
    return NixPath(found)
