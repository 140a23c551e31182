"""Permanent and runtime GC roots (spec 11.1).

* ``<state>/gcroots`` is walked recursively.  A symlink pointing into the
  store is a root.  A symlink pointing elsewhere is an *indirect* root: if its
  target is itself a symlink into the store, that target link is the root;
  if the target is gone, the entry is stale and, under ``gcroots/auto``,
  removed.  A regular file named like a store path's base name roots it.
* ``<state>/profiles`` is walked the same way, so every profile generation
  is a root (``gcroots/profiles`` links there, as in Nix).
* ``gcroots/auto/<nix32(sha1(link))>`` -> ``link`` registers an indirect root
  (``result`` links, profile generations made elsewhere).
* Runtime roots: store paths that running processes have open, mapped, as
  their executable or working directory, or in their environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable

from ..compat import nixbase32
from ..compat.storepath import HASH_PART_LEN
from .api import STORE_DIR, StoreError
from .layout import StoreLayout

Roots = dict[str, set[str]]  # store path -> what keeps it alive

def _reference_pattern(real_store_dir: str) -> re.Pattern[bytes]:
    """Matches ``<real_store_dir>/<hash>-`` and captures the hash part."""
    alphabet = nixbase32.ALPHABET.encode()
    return re.compile(
        re.escape(os.fsencode(real_store_dir)) + rb"/([" + alphabet + rb"]{"
        + str(HASH_PART_LEN).encode() + rb"})-"
    )


def auto_root_name(link: str) -> str:
    """The name of the ``gcroots/auto`` entry for the absolute link path ``link``."""
    return nixbase32.encode(hashlib.sha1(link.encode("utf-8", "surrogateescape")).digest())


def replace_symlink(target: str, link: str) -> None:
    """Make ``link`` a symlink to ``target`` atomically (rename over the old one)."""
    directory, base = os.path.split(link)
    while True:
        tmp = os.path.join(directory, f".{base}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            os.symlink(target, tmp)
            break
        except FileExistsError:
            continue
    try:
        os.rename(tmp, link)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def add_indirect_root(layout: StoreLayout, link: str) -> str:
    """Register the symlink ``link`` (outside the store) as an indirect root.

    Returns the ``gcroots/auto`` entry made for it.
    """
    link = os.path.abspath(link)
    entry = os.path.join(layout.auto_roots_dir, auto_root_name(link))
    os.makedirs(layout.auto_roots_dir, exist_ok=True)
    replace_symlink(link, entry)
    return entry


def add_permanent_root(layout: StoreLayout, store_path: str, link: str) -> str:
    """Make ``link`` a symlink to ``store_path`` and register it as an indirect root.

    Refuses to replace anything but a symlink into the store and to put the
    link inside the store.  Returns the absolute link path.
    """
    link = os.path.abspath(link)
    for store in {STORE_DIR, layout.real_store_dir}:
        if link == store or link.startswith(store + "/"):
            raise StoreError(
                f"creating a garbage collector root ({link}) in the Nix store is forbidden"
            )
    if os.path.lexists(link):
        is_store_link = os.path.islink(link) and (
            layout.logical_store_path(os.readlink(link)) is not None
        )
        if not is_store_link:
            raise StoreError(f"cannot create symlink '{link}'; already exists")
    replace_symlink(store_path, link)
    add_indirect_root(layout, link)
    return link


def find_permanent_roots(layout: StoreLayout, is_valid: Callable[[str], bool]) -> Roots:
    """Roots from ``gcroots`` and ``profiles``: store path -> links."""
    roots: Roots = {}

    def found(link: str, store_path: str) -> None:
        if is_valid(store_path):
            roots.setdefault(store_path, set()).add(link)

    auto_dir = layout.auto_roots_dir + "/"
    for top in (layout.gcroots_dir, layout.profiles_dir):
        for path, kind in _walk(top):
            if kind == "link":
                try:
                    target = os.readlink(path)
                except OSError:
                    continue
                store_path = layout.logical_store_path(target)
                if store_path is not None:
                    found(path, store_path)
                    continue
                target = os.path.normpath(os.path.join(os.path.dirname(path), target))
                try:
                    st = os.lstat(target)
                except FileNotFoundError:
                    if path.startswith(auto_dir):  # stale indirect root
                        with contextlib.suppress(OSError):
                            os.unlink(path)
                    continue
                except OSError:
                    continue
                if stat.S_ISLNK(st.st_mode):
                    with contextlib.suppress(OSError):
                        store_path = layout.logical_store_path(os.readlink(target))
                        if store_path is not None:
                            found(target, store_path)
            elif kind == "file":
                found(path, f"{STORE_DIR}/{os.path.basename(path)}")
    return roots


def _walk(top: str) -> Iterable[tuple[str, str]]:
    """(path, "link" | "file") for everything under ``top`` (not following links)."""
    try:
        entries = list(os.scandir(top))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return
    for entry in sorted(entries, key=lambda e: e.name):
        try:
            if entry.is_symlink():
                yield entry.path, "link"
            elif entry.is_dir(follow_symlinks=False):
                yield from _walk(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield entry.path, "file"
        except OSError:
            continue


def find_runtime_roots(by_hash_part: dict[str, str], real_store_dir: str = "/nix/store") -> Roots:
    """Store paths that running processes use: store path -> ``/proc/...`` sources.

    ``by_hash_part`` maps hash parts to the valid paths of this store.  What
    processes show is looked up under ``real_store_dir``, where the files of
    this store are on this machine: a chroot store's paths are not the ones a
    process uses under ``/nix/store`` (those belong to the real store, or to
    another chroot store).
    """
    roots: Roots = {}
    pattern = _reference_pattern(real_store_dir)

    def scan(text: bytes, source: str) -> None:
        for m in pattern.finditer(text):
            store_path = by_hash_part.get(m.group(1).decode())
            if store_path is not None:
                roots.setdefault(store_path, set()).add(source)

    if not by_hash_part:
        return roots
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return roots
    for pid in pids:
        base = f"/proc/{pid}"
        for name in ("exe", "cwd", "root"):
            with contextlib.suppress(OSError):
                scan(os.fsencode(os.readlink(f"{base}/{name}")), f"{base}/{name}")
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"{base}/fd"):
                with contextlib.suppress(OSError):
                    scan(os.fsencode(os.readlink(f"{base}/fd/{fd}")), f"{base}/fd/{fd}")
        for name in ("maps", "environ"):
            with contextlib.suppress(OSError), open(f"{base}/{name}", "rb") as f:
                scan(f.read(), f"{base}/{name}")
    return roots


def merge_roots(*parts: Roots) -> Roots:
    merged: Roots = {}
    for part in parts:
        for path, sources in part.items():
            merged.setdefault(path, set()).update(sources)
    return merged
