"""Builtins that need a store: paths, text files, derivations, fetchers.

They reach the store only through the evaluator's :class:`~..store_api.EvalStore`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ..runtime import expect_string_no_ctx
from ..values import Thunk, to_bytes
from . import primop

if TYPE_CHECKING:
    pass


def _f(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


_NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"


def _nix32(data: bytes) -> str:
    n = len(data)
    length = (n * 8 - 1) // 5 + 1 if n else 0
    num = int.from_bytes(data, "little")
    return "".join(_NIX32[(num >> (k * 5)) & 31] for k in range(length - 1, -1, -1))


@primop("placeholder", 1)
def placeholder(output: Any) -> str:
    name = str(expect_string_no_ctx(_f(output)))
    digest = hashlib.sha256(b"nix-output:" + to_bytes(name)).digest()
    return "/" + _nix32(digest)
