"""String context functions.

Context elements are kept in Nix's encoding: ``/nix/store/x`` (a path),
``=/nix/store/x.drv`` (a derivation with all its outputs) and
``!out!/nix/store/x.drv`` (one output of a derivation).
"""

from __future__ import annotations

from typing import Any

from ..errors import EvalError
from ..runtime import expect_attrs, expect_bool, expect_list, expect_string
from ..values import NixStr, StrValue, Thunk, make_str, to_text
from . import primop


def _f(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


def _str_ctx(v: Any) -> tuple[str, frozenset[str]]:
    s = expect_string(_f(v))
    if isinstance(s, NixStr):
        return s.s, s.ctx
    return s, frozenset()


@primop("hasContext", 1)
def has_context(s: Any) -> bool:
    return bool(_str_ctx(s)[1])


@primop("unsafeDiscardStringContext", 1)
def unsafe_discard_string_context(s: Any) -> str:
    return _str_ctx(s)[0]


@primop("unsafeDiscardOutputDependency", 1)
def unsafe_discard_output_dependency(s: Any) -> StrValue:
    text, ctx = _str_ctx(s)
    return make_str(text, {c[1:] if c.startswith("=") else c for c in ctx})


@primop("addDrvOutputDependencies", 1)
def add_drv_output_dependencies(s: Any) -> StrValue:
    text, ctx = _str_ctx(s)
    if len(ctx) != 1:
        raise EvalError(
            f"context of string '{to_text(text)}' must have exactly one element, "
            f"but has {len(ctx)}"
        )
    (c,) = ctx
    if c.startswith("="):
        return make_str(text, ctx)
    if c.startswith("!"):
        raise EvalError(
            f"`addDrvOutputDependencies` can only act on derivations, not on a derivation "
            f"output such as '{to_text(c.split('!', 2)[1])}'"
        )
    if not c.endswith(".drv"):
        raise EvalError(f"path '{to_text(c)}' is not a derivation")
    return make_str(text, {"=" + c})


def context_info(ctx: frozenset[str]) -> dict[str, Any]:
    """``builtins.getContext``: path -> { path?; allOutputs?; outputs? }."""
    info: dict[str, dict[str, Any]] = {}
    for c in ctx:
        if c.startswith("="):
            info.setdefault(c[1:], {})["allOutputs"] = True
        elif c.startswith("!"):
            _, out, drv = c.split("!", 2)
            info.setdefault(drv, {}).setdefault("outputs", []).append(out)
        else:
            info.setdefault(c, {})["path"] = True
    result = {}
    for path in sorted(info):
        d = info[path]
        if "outputs" in d:
            d["outputs"] = sorted(d["outputs"])
        result[path] = d
    return result


@primop("getContext", 1)
def get_context(s: Any) -> dict[str, Any]:
    return context_info(_str_ctx(s)[1])


def _is_store_path(p: str) -> bool:
    from ..values import from_text  # noqa: F401

    if not p.startswith("/nix/store/"):
        return False
    rest = p[len("/nix/store/") :]
    return len(rest) > 33 and "/" not in rest and rest[32] == "-"


@primop("appendContext", 2)
def append_context(s: Any, ctx_attrs: Any) -> StrValue:
    text, ctx0 = _str_ctx(s)
    ctx = set(ctx0)
    for path, info_v in expect_attrs(_f(ctx_attrs)).items():
        if not _is_store_path(path):
            raise EvalError(f"context key '{to_text(path)}' is not a store path")
        info = expect_attrs(_f(info_v))
        if "path" in info and expect_bool(_f(info["path"])):
            ctx.add(path)
        if "allOutputs" in info and expect_bool(_f(info["allOutputs"])):
            if not path.endswith(".drv"):
                raise EvalError(
                    f"tried to add all-outputs context of {to_text(path)}, which is not a "
                    "derivation, to a string"
                )
            ctx.add("=" + path)
        if "outputs" in info:
            outs = expect_list(_f(info["outputs"]))
            if outs and not path.endswith(".drv"):
                raise EvalError(
                    f"tried to add derivation output context of {to_text(path)}, which is "
                    "not a derivation, to a string"
                )
            for o in outs:
                ctx.add("!" + str(expect_string(_f(o))) + "!" + path)
    return make_str(text, ctx)
