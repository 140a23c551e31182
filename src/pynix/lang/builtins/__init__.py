"""The built-in functions of the Nix language.

Each module registers primops with :func:`primop`.  A primop's Python
function receives its arguments unforced (values or thunks) and returns a
forced value.  :func:`make_base_env` builds the ``builtins`` set and the
base environment (the names visible without ``builtins.``) for one
evaluator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..values import PrimOp

if TYPE_CHECKING:
    from ..evaluator import Evaluator

# name -> PrimOp, for primops that need no evaluator
PRIMOPS: dict[str, PrimOp] = {}
# name -> factory(evaluator) -> PrimOp, for primops that need the evaluator
EVAL_PRIMOPS: dict[str, tuple[int, Callable[..., Any]]] = {}

# names visible in the base environment without the "__" prefix
GLOBAL_NAMES = frozenset(
    [
        "abort",
        "baseNameOf",
        "break",
        "derivation",
        "derivationStrict",
        "dirOf",
        "fetchGit",
        "fetchMercurial",
        "fetchTarball",
        "fetchTree",
        "fromTOML",
        "import",
        "isNull",
        "map",
        "placeholder",
        "removeAttrs",
        "scopedImport",
        "throw",
        "toString",
    ]
)


def primop(name: str, arity: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a primop whose function needs nothing but its arguments."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        PRIMOPS[name] = PrimOp(name, arity, fn)
        return fn

    return deco


def eval_primop(name: str, arity: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a primop whose function takes the evaluator as first argument."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        EVAL_PRIMOPS[name] = (arity, fn)
        return fn

    return deco


def _load_all() -> None:
    from . import (  # noqa: F401
        attrs,
        context,
        control,
        data,
        fetch,
        io,
        lists,
        numbers,
        store,
        strings,
        types,
    )


def make_base_env(ev: Evaluator) -> tuple[dict[str, Any], dict[str, Any]]:
    """(builtins set, base environment) for an evaluator."""
    _load_all()
    builtins: dict[str, Any] = dict(PRIMOPS)
    for name, (arity, fn) in EVAL_PRIMOPS.items():
        builtins[name] = PrimOp(name, arity, _bind(fn, ev))
    builtins.update(ev.constants())
    base: dict[str, Any] = {}
    for name, v in builtins.items():
        base["__" + name] = v
        if name in GLOBAL_NAMES:
            base[name] = v
    builtins["builtins"] = builtins
    base["builtins"] = builtins
    for name in ("true", "false", "null"):
        base[name] = builtins[name]
    return builtins, base


def _bind(fn: Callable[..., Any], ev: Any) -> Callable[..., Any]:
    def bound(*args: Any) -> Any:
        return fn(ev, *args)

    bound.__name__ = fn.__name__
    return bound
