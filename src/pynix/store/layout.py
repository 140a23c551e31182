"""Where a local store keeps its files.

The logical store directory is always ``/nix/store``; a store with a ``root``
keeps ``/nix/store/x`` at ``<root>/nix/store/x`` and its state under
``<root>/nix/var/nix``.  pynix's private state (database, temporary roots,
its locks) lives in ``<state>/pynix`` so that it never touches the real
Nix's ``<state>/db``; GC roots and profiles are at Nix's standard places so
that the two layouts are interchangeable.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from .api import STORE_DIR, StoreError

LINKS_DIR_NAME = ".links"  # hard-link targets of optimise, as Nix names it
STAGING_PREFIX = ".pynix-tmp-"  # contents being added, not yet at their path


@dataclass(frozen=True)
class StoreLayout:
    """The physical places of a local store rooted at ``root`` (``/`` = the real /nix)."""

    root: str

    @property
    def chroot(self) -> bool:
        return self.root != "/"

    def _under_root(self, logical: str) -> str:
        return logical if not self.chroot else self.root + logical

    @property
    def real_store_dir(self) -> str:
        return self._under_root(STORE_DIR)

    @property
    def state_dir(self) -> str:
        return self._under_root("/nix/var/nix")

    @property
    def pynix_dir(self) -> str:
        return self.state_dir + "/pynix"

    @property
    def db_path(self) -> str:
        return self.pynix_dir + "/db.sqlite"

    @property
    def gc_lock_path(self) -> str:
        return self.pynix_dir + "/gc.lock"

    @property
    def temproots_dir(self) -> str:
        return self.pynix_dir + "/temproots"

    @property
    def gcroots_dir(self) -> str:
        return self.state_dir + "/gcroots"

    @property
    def auto_roots_dir(self) -> str:
        return self.gcroots_dir + "/auto"

    @property
    def profiles_dir(self) -> str:
        return self.state_dir + "/profiles"

    @property
    def links_dir(self) -> str:
        return self.real_store_dir + "/" + LINKS_DIR_NAME

    def real_path(self, path: str) -> str:
        """``/nix/store/x[/...]`` -> where it is on disk."""
        if path != STORE_DIR and not path.startswith(STORE_DIR + "/"):
            raise StoreError(f"path '{path}' is not in the Nix store")
        return self._under_root(path)

    def logical_store_path(self, target: str) -> str | None:
        """The store path a link target names, if it points into the store.

        Accepts logical (``/nix/store/...``) and, for a chroot store, physical
        (``<root>/nix/store/...``) targets; returns the top-level store path.
        """
        for prefix in {STORE_DIR + "/", self.real_store_dir + "/"}:
            if target.startswith(prefix):
                base = target[len(prefix) :].split("/", 1)[0]
                if base:
                    return f"{STORE_DIR}/{base}"
        return None

    def create(self) -> None:
        """Make the directories a store needs (idempotent)."""
        for d in (
            self.real_store_dir,
            self.pynix_dir,
            self.temproots_dir,
            self.auto_roots_dir,
            self.profiles_dir,
            self.links_dir,
        ):
            os.makedirs(d, exist_ok=True)
        link = self.gcroots_dir + "/profiles"
        if not os.path.lexists(link):
            with contextlib.suppress(FileExistsError):
                os.symlink(self.profiles_dir, link)


def layout_for_root(root: str | None) -> StoreLayout:
    if root is None or root in ("", "/"):
        return StoreLayout("/")
    return StoreLayout(os.path.abspath(root).rstrip("/") or "/")
