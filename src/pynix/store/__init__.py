"""The store: where paths live, their metadata, roots and garbage collection.

Open one with :func:`open_store` (store URLs and the default store are
described in :mod:`pynix.store.url`).  Every store implements
:class:`~pynix.store.api.Store`; :class:`~pynix.store.local.LocalStore` is
the one on this machine.

Protocol for builds (and anything else that makes store paths itself):

1. ``store.add_temp_root(p)`` for every input *before* checking that it is
   valid, and for every output before building it;
2. ``with store.lock_paths(outputs):`` (per-output locks; skip outputs that
   became valid meanwhile), then ``store.prepare_paths(outputs)``;
3. build, move the outputs to ``store.real_path(out)`` (canonicalised or
   not: registration canonicalises);
4. ``store.register_valid_paths([PathInfo(...), ...])`` with the NAR hash and
   size from the reference scan, still holding the locks.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import GCResult, InvalidPath, PathFilter, PathInfo, Store, StoreError
    from .local import LocalStore, VerifyReport
    from .roots import auto_root_name
    from .url import default_store_url, open_store, register_store_scheme

# name -> the module defining it, imported when the name is first used:
# a command that needs one corner of this package does not load all of it
_LAZY: dict[str, str] = {
    "GCResult": ".api",
    "InvalidPath": ".api",
    "LocalStore": ".local",
    "PathFilter": ".api",
    "PathInfo": ".api",
    "Store": ".api",
    "StoreError": ".api",
    "VerifyReport": ".local",
    "auto_root_name": ".roots",
    "default_store_url": ".url",
    "open_store": ".url",
    "register_store_scheme": ".url",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "GCResult",
    "InvalidPath",
    "LocalStore",
    "PathFilter",
    "PathInfo",
    "Store",
    "StoreError",
    "VerifyReport",
    "auto_root_name",
    "default_store_url",
    "open_store",
    "register_store_scheme",
]
