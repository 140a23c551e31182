"""JSON, TOML and XML."""

from __future__ import annotations

from typing import Any

from ..runtime import expect_string
from ..tojson import to_json
from ..values import NixStr, StrValue, Thunk, make_str
from . import primop


def _f(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


@primop("toJSON", 1)
def to_json_(v: Any) -> StrValue:
    ctx: set[str] = set()
    out: list[str] = []
    to_json(v, True, ctx, out)
    return make_str("".join(out), ctx)


@primop("fromJSON", 1)
def from_json(s: Any) -> Any:
    from ..formats import from_json as parse

    return parse(str(expect_string(_f(s))))


@primop("fromTOML", 1)
def from_toml(s: Any) -> Any:
    from ..formats import from_toml as parse

    return parse(str(expect_string(_f(s))))


@primop("toXML", 1)
def to_xml(v: Any) -> StrValue:
    from ..formats import to_xml as render

    text = render(v, True, False)
    return make_str(text, _contexts(v))


def _contexts(v: Any) -> set[str]:
    """The contexts of every string in a (deeply forced) value."""
    ctx: set[str] = set()
    stack = [v]
    seen: set[int] = set()
    while stack:
        x = _f(stack.pop())
        t = type(x)
        if t is NixStr:
            ctx.update(x.ctx)
        elif t is dict or t is list:
            if id(x) in seen:
                continue
            seen.add(id(x))
            stack.extend(x.values() if t is dict else x)
    return ctx


__all__ = ["NixStr"]
