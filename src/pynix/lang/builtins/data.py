"""JSON, TOML and XML."""

from __future__ import annotations

from typing import Any

from ..runtime import expect_string
from ..tojson import to_json
from ..values import NixStr, Thunk, make_str
from . import primop


def _f(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


@primop("toJSON", 1)
def to_json_(v: Any) -> str:
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
def to_xml(v: Any) -> str:
    from ..formats import to_xml as render

    ctx: set[str] = set()
    text = render(v, True, False, ctx)
    return make_str(text, ctx)


__all__ = ["NixStr"]
