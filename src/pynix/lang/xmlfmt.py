"""Values as XML, the way Nix 2.8's ``builtins.toXML`` and
``nix-instantiate --eval --xml`` print them.

The format, as Nix writes it:

* a header ``<?xml version='1.0' encoding='utf-8'?>``, then ``<expr>``,
  two spaces of indentation per level and a newline after every tag;
* empty elements end in `` />``; an empty set or list is an open and a close
  tag on two lines;
* XML attributes are written in alphabetical order (``column line name
  path``, ``drvPath outPath``, ``ellipsis name``); in their values ``<``
  ``>`` ``&`` ``"`` and newline are escaped (``&lt; &gt; &amp; &quot; &#xA;``),
  every other byte is written as it is;
* ``<int value=.../>``, ``<float value=.../>`` (six significant digits, like
  C's ``%g``), ``<bool value="true"/>``, ``<null />``, ``<string value=.../>``
  (context is ignored), ``<path value=.../>``, ``<list>``, ``<attrs>`` with
  one ``<attr name=...>`` per attribute sorted by name;
* an attribute set whose ``type`` is ``"derivation"`` is a ``<derivation>``
  with ``drvPath`` and ``outPath`` attributes when they are strings; its
  attributes are shown the first time its ``drvPath`` is seen and replaced by
  ``<repeated />`` afterwards, and always when it has no ``drvPath``;
* a lambda is ``<function>`` with ``<varpat name="x" />``, or ``<attrspat>``
  (``ellipsis="1"``, ``name=`` for ``args@``) listing the formals in
  alphabetical order; built-in functions print ``<unevaluated />``;
* with ``location``, ``<attr>`` and ``<function>`` carry ``path``, ``line``
  and ``column`` of their definition (attributes without a position, such as
  those made by ``fromJSON``, carry none).  For ``-E`` expressions Nix 2.8
  prints the whole source text as the path.
* without ``strict``, a value that has not been computed yet prints
  ``<unevaluated />``; ``type``, which decides whether a set is a derivation,
  is computed anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from types import FunctionType
from typing import Final

from .errors import SOURCES, STRING_ORIGIN
from .jsonfmt import json_float
from .values import LAMBDA_INFO, NixPath, NixStr, Pos, Thunk, Value, force

__all__ = ["to_xml"]

AttrPos = Callable[[dict[str, Value], str], "Pos | None"]

_XML_ESCAPES: Final = str.maketrans({"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;",
                                     "\n": "&#xA;"})


def _attrs(attrs: dict[str, str]) -> str:
    return "".join(f' {k}="{attrs[k].translate(_XML_ESCAPES)}"' for k in sorted(attrs))


def _pos_attrs(pos: Pos) -> dict[str, str]:
    path = pos[0]
    if path == STRING_ORIGIN and STRING_ORIGIN in SOURCES:
        path = SOURCES[STRING_ORIGIN]  # what Nix 2.8 shows for -E expressions
    return {"path": path, "line": str(pos[1]), "column": str(pos[2])}


class _Printer:
    def __init__(self, strict: bool, location: bool, attr_pos: AttrPos | None,
                 out: list[str]) -> None:
        self.strict = strict
        self.location = location
        self.attr_pos = attr_pos
        self.out = out
        self.drvs_seen: set[str] = set()
        self.open_tags: list[tuple[int, str]] = []

    def empty(self, depth: int, tag: str, attrs: dict[str, str] | None = None) -> None:
        self.out.append(f"{'  ' * depth}<{tag}{_attrs(attrs) if attrs else ''} />\n")

    def open(self, depth: int, tag: str, attrs: dict[str, str] | None = None) -> None:
        self.out.append(f"{'  ' * depth}<{tag}{_attrs(attrs) if attrs else ''}>\n")
        self.open_tags.append((depth, tag))

    def close(self, depth: int, tag: str) -> None:
        self.out.append(f"{'  ' * depth}</{tag}>\n")
        self.open_tags.pop()

    def close_all(self) -> None:
        while self.open_tags:
            self.close(*self.open_tags[-1])

    def known(self, v: Value) -> tuple[bool, Value]:
        """The value if it is known (or `strict` allows computing it)."""
        if type(v) is Thunk:
            if self.strict or v.forced():
                return True, v.force()
            return False, None
        return True, v

    def value(self, v: Value, depth: int) -> None:
        ok, v = self.known(v)
        if not ok:
            self.empty(depth, "unevaluated")
            return
        t = type(v)
        if t is bool:
            self.empty(depth, "bool", {"value": "true" if v else "false"})
        elif t is int:
            self.empty(depth, "int", {"value": str(v)})
        elif t is str or t is NixStr:
            self.empty(depth, "string", {"value": str(v)})
        elif t is NixPath:
            self.empty(depth, "path", {"value": v.path})
        elif v is None:
            self.empty(depth, "null")
        elif t is float:
            self.empty(depth, "float", {"value": json_float(v)})
        elif t is dict:
            self.attrset(v, depth)
        elif t is list:
            self.open(depth, "list")
            for x in v:
                self.value(x, depth + 1)
            self.close(depth, "list")
        elif t is FunctionType:
            self.function(v, depth)
        else:  # primops and partial applications of them
            self.empty(depth, "unevaluated")

    def attrset(self, v: dict[str, Value], depth: int) -> None:
        kind = v.get("type")
        if kind is not None and force(kind) == "derivation":
            attrs: dict[str, str] = {}
            drv_path = ""
            for name, key in (("drvPath", "drvPath"), ("outPath", "outPath")):
                if name in v:
                    ok, x = self.known(v[name])
                    if ok and (type(x) is str or type(x) is NixStr):
                        x = str(x)
                        attrs[key] = x
                        if name == "drvPath":
                            drv_path = x
            self.open(depth, "derivation", attrs)
            if drv_path and drv_path not in self.drvs_seen:
                self.drvs_seen.add(drv_path)
                self.members(v, depth + 1)
            else:
                self.empty(depth + 1, "repeated")
            self.close(depth, "derivation")
        else:
            self.open(depth, "attrs")
            self.members(v, depth + 1)
            self.close(depth, "attrs")

    def members(self, v: dict[str, Value], depth: int) -> None:
        for name in sorted(v):
            attrs = {"name": name}
            if self.location and self.attr_pos is not None:
                pos = self.attr_pos(v, name)
                if pos is not None and pos[0]:
                    attrs.update(_pos_attrs(pos))
            self.open(depth, "attr", attrs)
            self.value(v[name], depth + 1)
            self.close(depth, "attr")

    def function(self, fn: FunctionType, depth: int) -> None:
        info = LAMBDA_INFO.get(fn.__code__)
        if info is None:  # a Python function that is not a Nix lambda
            self.empty(depth, "unevaluated")
            return
        self.open(depth, "function", _pos_attrs(info.pos) if self.location else None)
        if info.formals is None:
            self.empty(depth + 1, "varpat", {"name": info.arg or ""})
        else:
            attrs = {}
            if info.arg:
                attrs["name"] = info.arg
            if info.ellipsis:
                attrs["ellipsis"] = "1"
            self.open(depth + 1, "attrspat", attrs)
            for name in sorted(f[0] for f in info.formals):
                self.empty(depth + 2, "attr", {"name": name})
            self.close(depth + 1, "attrspat")
        self.close(depth, "function")


def to_xml(v: Value, strict: bool, location: bool, attr_pos: AttrPos | None = None,
           out: list[str] | None = None) -> str:
    """The XML document for `v` (a Nix string).

    ``builtins.toXML`` is ``to_xml(v, strict=True, location=False)``;
    ``nix-instantiate --eval --xml`` passes its ``--strict`` and ``not
    --no-location``.  `v` itself is always computed (to weak head normal
    form) first, as both do.  `attr_pos(attrs, name)` gives the position of
    an attribute's definition, or None; without it attributes have no
    location.

    When computing a value inside fails, Nix has already written part of the
    document and closes the elements that are open before the error goes on
    (nix-instantiate prints that).  Pass `out` to receive the text in pieces:
    after an error it holds that closed partial document.
    """
    v = force(v)
    p = _Printer(strict, location, attr_pos, [] if out is None else out)
    p.out.append("<?xml version='1.0' encoding='utf-8'?>\n")
    p.open(0, "expr")
    try:
        p.value(v, 1)
    finally:
        p.close_all()
    return "".join(p.out)
