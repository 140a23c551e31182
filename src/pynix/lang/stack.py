"""Run deep computations on a thread with a large stack.

Nix programs recurse deeply (a 10 000-deep recursive function, a long
``foldr``), and so do the parser and CPython's compiler on deeply nested
code.  Python frames live on the heap, but calls that pass through C code
use the C stack, so evaluation runs on a thread with a 1 GiB stack (only
the pages actually touched are ever allocated) and a high recursion limit.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

STACK_BYTES = 1 << 30
RECURSION_LIMIT = 400_000

_local = threading.local()


def on_big_stack(fn: Callable[[], T]) -> T:
    """Call ``fn`` on a large-stack thread (or directly if already on one)."""
    if getattr(_local, "big", False):
        return fn()
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        _local.big = True
        # Evaluation allocates millions of small objects that live until the
        # end; the cyclic collector would traverse them again and again.
        # Reference counting still frees what is dropped.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            result.append(fn())
        except BaseException as e:  # re-raised in the caller's thread
            error.append(e)
        finally:
            if was_enabled:
                gc.enable()

    old_size = threading.stack_size()
    old_limit = sys.getrecursionlimit()
    threading.stack_size(STACK_BYTES)
    sys.setrecursionlimit(max(old_limit, RECURSION_LIMIT))
    try:
        t = threading.Thread(target=run, name="nix-eval", daemon=True)
        t.start()
    finally:
        threading.stack_size(old_size)
    try:
        t.join()
    finally:
        sys.setrecursionlimit(old_limit)
    if error:
        raise error[0]
    return result[0]
