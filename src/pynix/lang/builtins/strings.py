"""String functions."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Any

from ..errors import EvalError
from ..regex import regex_match, regex_split
from ..runtime import (
    coerce_to_string,
    expect_int,
    expect_list,
    expect_string,
    expect_string_no_ctx,
    to_string,
)
from ..values import NixPath, NixStr, StrValue, Thunk, context_of, make_str, to_bytes
from . import primop


def _f(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


def _str_ctx(v: Any) -> tuple[str, frozenset[str]]:
    s = expect_string(_f(v))
    if isinstance(s, NixStr):
        return s.s, s.ctx
    return s, frozenset()


@primop("toString", 1)
def to_string_(v: Any) -> StrValue:
    if type(v) is Thunk:
        v = v.force()
    t = type(v)
    if t is str:
        return v
    if t is int:
        return str(v)
    return to_string(v, None)


@primop("stringLength", 1)
def string_length(v: Any) -> int:
    return len(coerce_to_string(_f(v), None, None))


@primop("substring", 3)
def substring(start: Any, length: Any, s: Any) -> StrValue:
    b = expect_int(_f(start))
    n = expect_int(_f(length))
    ctx: set[str] = set()
    text = coerce_to_string(_f(s), None, ctx)
    if b < 0:
        raise EvalError("negative start position in 'substring'")
    if n < 0:
        r = text[b:]
    else:
        r = text[b : b + n]
    return make_str(r, ctx)


@primop("concatStringsSep", 2)
def concat_strings_sep(sep: Any, xs: Any) -> StrValue:
    s, sctx = _str_ctx(sep)
    items = expect_list(_f(xs))
    ctx: set[str] = set()
    parts = [coerce_to_string(_f(x), None, ctx) for x in items]
    if items and sctx:
        ctx.update(sctx)
    return make_str(s.join(parts), ctx)


@lru_cache(maxsize=256)
def _replace_regex(froms: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(f) for f in froms))


@lru_cache(maxsize=256)
def _replacer(froms: tuple[str, ...], tos: tuple[str, ...]) -> Any:
    """A function replacing every ``froms[i]`` by ``tos[i]`` in one scan (at each
    position the first pattern in list order that matches wins, as in Nix)."""
    table: dict[str, str] = {}
    for f, t in zip(froms, tos):
        table.setdefault(f, t)
    sub = _replace_regex(froms).sub
    repl = table.__getitem__

    def replace(text: str) -> str:
        return sub(lambda m: repl(m.group()), text)

    return replace


@primop("replaceStrings", 3)
def replace_strings(from_: Any, to: Any, s: Any) -> StrValue:
    froms_v = expect_list(_f(from_))
    tos_v = expect_list(_f(to))
    if len(froms_v) != len(tos_v):
        raise EvalError(
            "'from' and 'to' arguments to 'replaceStrings' have different lengths"
        )
    froms = tuple(str(expect_string(_f(x))) for x in froms_v)
    # Nix forces every replacement, used or not
    tos = [_str_ctx(t) for t in tos_v]
    text, sctx = _str_ctx(s)
    ctx: set[str] = set(sctx)

    def to_at(i: int) -> str:
        t = tos[i]
        ctx.update(t[1])
        return t[0]

    if not froms:
        return make_str(text, ctx)
    if "" not in froms and not any(t[1] for t in tos):
        # no replacement has a context: the text of each is all that matters
        if len(froms) == 1:
            # (str.replace also scans left to right, without overlaps)
            return make_str(text.replace(froms[0], tos[0][0]), ctx)
        return make_str(_replacer(froms, tuple(t[0] for t in tos))(text), ctx)
    if "" not in froms:
        index = {f: i for i, f in reversed(list(enumerate(froms)))}
        r = _replace_regex(froms).sub(lambda m: to_at(index[m.group()]), text)
        return make_str(r, ctx)
    out: list[str] = []
    p = 0
    n = len(text)
    while p <= n:
        for i, f in enumerate(froms):
            if text.startswith(f, p):
                out.append(to_at(i))
                if f:
                    p += len(f)
                else:
                    if p < n:
                        out.append(text[p])
                    p += 1
                break
        else:
            if p < n:
                out.append(text[p])
            p += 1
    return make_str("".join(out), ctx)


@primop("match", 2)
def match(regex: Any, s: Any) -> Any:
    pat = str(expect_string(_f(regex)))
    text, _ = _str_ctx(s)
    return regex_match(pat, text)


@primop("split", 2)
def split(regex: Any, s: Any) -> list[Any]:
    pat = str(expect_string(_f(regex)))
    text, _ = _str_ctx(s)
    return regex_split(pat, text)


# A version splits into components: runs of digits, and runs of anything but
# digits and the separators "." and "-" (which are dropped).
_COMPONENT = re.compile(r"[0-9]+|[^0-9.\-]+")


@lru_cache(maxsize=4096)
def version_components(v: str) -> tuple[str, ...]:
    return tuple(_COMPONENT.findall(v))


def _as_int(c: str) -> int | None:
    if c and c[0] in "0123456789":
        v = int(c)
        if v <= 0x7FFFFFFF:
            return v
    return None


def _component_lt(c1: str, c2: str) -> bool:
    n1 = _as_int(c1)
    n2 = _as_int(c2)
    if n1 is not None and n2 is not None:
        return n1 < n2
    if c1 == "" and n2 is not None:
        return True
    if c1 == "pre" and c2 != "pre":
        return True
    if c2 == "pre":
        return False
    if n2 is not None:
        return True
    if n1 is not None:
        return False
    return c1 < c2


def compare_versions(v1: str, v2: str) -> int:
    if v1 == v2:
        return 0
    c1s = version_components(v1)
    c2s = version_components(v2)
    for i in range(max(len(c1s), len(c2s))):
        c1 = c1s[i] if i < len(c1s) else ""
        c2 = c2s[i] if i < len(c2s) else ""
        if c1 == c2:
            continue  # (neither is less than the other)
        if _component_lt(c1, c2):
            return -1
        if _component_lt(c2, c1):
            return 1
    return 0


@primop("compareVersions", 2)
def compare_versions_(a: Any, b: Any) -> int:
    return compare_versions(str(expect_string_no_ctx(_f(a))), str(expect_string_no_ctx(_f(b))))


@primop("splitVersion", 1)
def split_version(v: Any) -> list[str]:
    return list(version_components(str(expect_string_no_ctx(_f(v)))))


def parse_drv_name(s: str) -> tuple[str, str]:
    for i, c in enumerate(s):
        if c == "-" and i + 1 < len(s) and not (s[i + 1].isascii() and s[i + 1].isalpha()):
            return s[:i], s[i + 1 :]
    return s, ""


@primop("parseDrvName", 1)
def parse_drv_name_(v: Any) -> dict[str, Any]:
    s = str(expect_string_no_ctx(_f(v)))
    name, version = parse_drv_name(s)
    return {"name": name, "version": version}


def base_name_of(path: str) -> str:
    if not path:
        return ""
    last = len(path) - 1
    if path[last] == "/" and last > 0:
        last -= 1
    pos = path.rfind("/", 0, last + 1)
    pos = 0 if pos < 0 else pos + 1
    return path[pos : last + 1]


def dir_of(path: str) -> str:
    pos = path.rfind("/")
    if pos < 0:
        return "."
    return "/" if pos == 0 else path[:pos]


@primop("baseNameOf", 1)
def base_name_of_(v: Any) -> StrValue:
    ctx: set[str] = set()
    s = coerce_to_string(_f(v), None, ctx, copy_to_store=False)
    return make_str(base_name_of(s), ctx)


@primop("dirOf", 1)
def dir_of_(v: Any) -> Any:
    v = _f(v)
    ctx: set[str] = set()
    s = coerce_to_string(v, None, ctx, copy_to_store=False)
    d = dir_of(s)
    if type(v) is NixPath:
        return NixPath(d)
    return make_str(d, ctx)


HASH_ALGOS = ("md5", "sha1", "sha256", "sha512")


def hash_algo(v: Any) -> str:
    name = str(expect_string_no_ctx(_f(v)))
    if name not in HASH_ALGOS:
        raise EvalError(f"unknown hash algorithm '{name}'")
    return name


@primop("hashString", 2)
def hash_string(algo: Any, s: Any) -> str:
    a = hash_algo(algo)
    text, _ = _str_ctx(s)
    return hashlib.new(a, to_bytes(text)).hexdigest()


__all__ = ["compare_versions", "context_of"]


@primop("convertHash", 1)
def convert_hash(args: Any) -> str:
    from ...compat.hashing import BadHash, Hash, HashFormat
    from ..runtime import expect_attrs, select

    a = expect_attrs(_f(args))
    text = str(expect_string_no_ctx(select(a, "hash", None)))
    fmt_name = str(expect_string_no_ctx(select(a, "toHashFormat", None)))
    algo = str(expect_string_no_ctx(_f(a["hashAlgo"]))) if "hashAlgo" in a else None
    try:
        fmt = HashFormat.parse(fmt_name)
        h = Hash.parse(text, algo)
    except BadHash as e:
        raise EvalError(str(e)) from None
    return h.format(fmt)
