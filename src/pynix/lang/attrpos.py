"""Where attributes were defined, for ``builtins.unsafeGetAttrPos``.

Attribute sets are plain dicts, which cannot carry extra data, so positions
live in a side table keyed by the dict's identity.  Recording costs time and
memory, so it is switched on only when the program mentions
``unsafeGetAttrPos`` (the evaluator checks each source before compiling it).
Entries whose dict is no longer referenced elsewhere are dropped as the
table grows.
"""

from __future__ import annotations

import sys
from typing import Any

from .values import Pos

_TABLE: dict[int, tuple[dict[str, Any], dict[str, Pos]]] = {}
_limit = 4096


class _State:
    enabled = False


STATE = _State()


def record(d: dict[str, Any],
           positions: dict[str, Pos] | tuple[tuple[str, Pos], ...]) -> dict[str, Any]:
    global _limit
    if not STATE.enabled:
        return d
    _TABLE[id(d)] = (d, positions if type(positions) is dict else dict(positions))
    if len(_TABLE) > _limit:
        _prune()
        _limit = max(4096, 2 * len(_TABLE))
    return d


def _prune() -> None:
    # a dict referenced only by this table (and this loop) is garbage
    for key in [k for k, (d, _) in _TABLE.items() if sys.getrefcount(d) <= 3]:
        del _TABLE[key]


def lookup(d: dict[str, Any], name: str) -> Pos | None:
    entry = _TABLE.get(id(d))
    if entry is None or entry[0] is not d:
        return None
    return entry[1].get(name)


def merge(r: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> None:
    """Positions for ``a // b``."""
    pa = _TABLE.get(id(a))
    pb = _TABLE.get(id(b))
    positions: dict[str, Pos] = {}
    if pa is not None and pa[0] is a:
        positions.update(pa[1])
    if pb is not None and pb[0] is b:
        positions.update(pb[1])
    for k in b:
        if pb is None or pb[0] is not b or k not in pb[1]:
            positions.pop(k, None)
    if positions:
        record(r, positions)


def add(d: dict[str, Any], name: str, pos: Pos) -> None:
    """Record one more attribute's position (a dynamic attribute)."""
    entry = _TABLE.get(id(d))
    if entry is None or entry[0] is not d:
        record(d, {name: pos})
    else:
        entry[1][name] = pos
