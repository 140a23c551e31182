"""Store URLs: which store a command works on.

``local``
    The real ``/nix``: files in ``/nix/store``, state in ``/nix/var/nix``.
``local?root=DIR`` (or just an absolute ``DIR``)
    A chroot store: ``/nix/store/x`` lives at ``DIR/nix/store/x`` and the state
    at ``DIR/nix/var/nix``; store paths stay ``/nix/store/...`` so that they
    are the same as everywhere else.
``auto``
    The default below.

Other schemes (binary caches, remote machines) are added by the layers that
implement them with :func:`register_store_scheme`.

**The default store** (``open_store()`` / ``open_store(None)``):

1. the ``PYNIX_STORE`` environment variable, if set and not empty;
2. ``local`` when running as root, or when ``/nix/store`` and ``/nix/var/nix``
   are writable by the current user (a single-user install);
3. otherwise ``local?root=$XDG_DATA_HOME/pynix/root`` (``XDG_DATA_HOME``
   defaulting to ``~/.local/share``), a private chroot store.

**Living next to the real Nix.**  pynix keeps its database, temporary roots
and locks in ``<state>/pynix/`` (``/nix/var/nix/pynix/db.sqlite``...), never
in Nix's ``/nix/var/nix/db``, so it cannot corrupt Nix's metadata.  GC roots
(``<state>/gcroots``, ``gcroots/auto``) and profiles (``<state>/profiles``)
are at Nix's standard places with Nix's layout, so either tool sees the
other's roots and profiles.  Both may share ``/nix/store``: per-path locks
(``<path>.lock``) are compatible with Nix's, and pynix only ever deletes
paths registered in its own database.  The real Nix's collector does not
know pynix's paths, however, and would delete them: on a machine where both
are used on ``/nix``, collect garbage with pynix only, or give pynix a
chroot store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from urllib.parse import parse_qsl

from .api import Store, StoreError
from .local import LocalStore

StoreFactory = Callable[[str, dict[str, str]], Store]

_SCHEMES: dict[str, StoreFactory] = {}


def register_store_scheme(scheme: str, factory: StoreFactory) -> None:
    """Let ``open_store`` open ``<scheme>://...`` URLs (factory gets the URL and
    its query parameters)."""
    _SCHEMES[scheme] = factory


def default_store_url() -> str:
    """The store used when none is given (see the module docstring)."""
    env = os.environ.get("PYNIX_STORE", "")
    if env:
        return env
    if os.geteuid() == 0 or _writable_real_nix():
        return "local"
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return f"local?root={os.path.join(data_home, 'pynix', 'root')}"


def _writable_real_nix() -> bool:
    return all(
        os.path.isdir(d) and os.access(d, os.W_OK) for d in ("/nix/store", "/nix/var/nix")
    )


def parse_store_url(url: str) -> tuple[str, dict[str, str]]:
    """``local?root=/x`` -> ("local", {"root": "/x"})."""
    base, _, query = url.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
    return base, params


def open_store(url: str | None = None, **options: object) -> Store:
    """Open the store ``url`` names (the default store for None or ``auto``).

    Extra keyword ``options`` go to the store's constructor (e.g.
    ``trusted_public_keys`` for :class:`LocalStore`).
    """
    if url is None or url == "auto":
        url = default_store_url()
        if url == "auto":
            url = "local"
    base, params = parse_store_url(url)
    if base.startswith("/"):  # a bare directory: a chroot store there
        params.setdefault("root", base)
        base = "local"
    if base == "local":
        unknown = set(params) - {"root"}
        if unknown:
            raise StoreError(
                f"store URL '{url}': unknown parameter(s) {', '.join(sorted(unknown))}"
            )
        root = params.get("root") or None
        if root is not None and not os.path.isabs(root):
            root = os.path.abspath(root)
        return LocalStore(root, **options)  # type: ignore[arg-type]
    scheme = base.partition("://")[0] if "://" in base else base
    factory = _SCHEMES.get(scheme)
    if factory is None:
        raise StoreError(f"don't know how to open Nix store '{url}'")
    return factory(url, params)
