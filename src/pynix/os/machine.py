"""A machine: a root directory with its store, profile, /etc, /var and /run.

For a root other than ``/`` the machine's programs (activation, services) run in
the *machine namespace* (:mod:`pynix.os.namespace`), where ``DIR/etc``,
``DIR/var``, ``DIR/run``, ``DIR/home``, ``DIR/root``, ``DIR/tmp``, ``DIR/nix/var``
and the store appear at ``/etc``... and ``/nix/store``.  Outside it, pynix
maps those logical paths to where they really are with :meth:`Machine.host`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..store.api import STORE_DIR, Store
from ..store.url import open_store, parse_store_url

# directories of the machine that the namespace shows in place of the host's
MACHINE_DIRS = ("etc", "var", "run", "home", "root", "tmp")


class MachineError(Exception):
    """Something about the machine root that stops an operation."""


@dataclass
class Machine:
    root: str  # "/" or an absolute directory
    store_url: str
    store: Store

    @classmethod
    def open(cls, root: str | None, store_url: str | None) -> Machine:
        root = os.path.abspath(root) if root else "/"
        if store_url is None:
            store_url = "local" if root == "/" else f"local?root={root}"
        base, params = parse_store_url(store_url)
        if params.get("root") and not os.path.isabs(params["root"]):
            store_url = f"{base}?root={os.path.abspath(params['root'])}"
        if root != "/":
            os.makedirs(root, exist_ok=True)
        return cls(root, store_url, open_store(store_url))

    # -- paths ---------------------------------------------------------------------

    @property
    def is_host(self) -> bool:
        return self.root == "/"

    @property
    def store_dir(self) -> str:
        """Where the store's files really are."""
        return self.store.real_path(STORE_DIR)

    def path(self, logical: str) -> str:
        """A machine path without following links: ``/run/x`` -> ``DIR/run/x``."""
        if logical == STORE_DIR or logical.startswith(STORE_DIR + "/"):
            return self.store.real_path(logical) if logical != STORE_DIR else self.store_dir
        if self.is_host:
            return logical
        return os.path.join(self.root, logical.lstrip("/"))

    def host(self, logical: str) -> str:
        """Where the file that ``logical`` names inside the machine really is,
        following symbolic links as the machine's programs would."""
        current = "/"
        pending = [p for p in logical.split("/") if p]
        hops = 0
        while pending:
            name = pending.pop(0)
            if name == ".":
                continue
            if name == "..":
                current = os.path.dirname(current)
                continue
            candidate = os.path.join(current, name)
            real = self._mapped(candidate)
            if hops < 64 and os.path.islink(real):
                hops += 1
                target = os.readlink(real)
                pending = [p for p in target.split("/") if p] + pending
                if target.startswith("/"):
                    current = "/"
                continue
            current = candidate
        return self._mapped(current)

    def _mapped(self, logical: str) -> str:
        if logical == STORE_DIR or logical.startswith(STORE_DIR + "/"):
            return self.path(logical)
        if self.is_host:
            return logical
        top = logical.lstrip("/").split("/", 1)[0]
        if top in MACHINE_DIRS or logical == "/nix/var" or logical.startswith("/nix/var/"):
            return os.path.join(self.root, logical.lstrip("/"))
        return logical

    @property
    def profile_path(self) -> str:
        return self.path("/nix/var/nix/profiles/system")

    @property
    def current_system_link(self) -> str:
        return self.path("/run/current-system")

    def current_system(self) -> str | None:
        """The toplevel ``/run/current-system`` points at (a store path), if any."""
        try:
            target = os.readlink(self.current_system_link)
        except OSError:
            return None
        return target if target.startswith(STORE_DIR + "/") else None

    @property
    def state_dir(self) -> str:
        """``/run/pynix`` on the host side: supervisord, unit markers."""
        return self.path("/run/pynix")

    @property
    def nixos_dir(self) -> str:
        return self.path("/run/nixos")

    def prepare(self) -> None:
        """Create the directories the namespace mounts (and /tmp with its sticky mode)."""
        if self.is_host:
            for d in ("/run/nixos", "/run/pynix"):
                os.makedirs(d, exist_ok=True)
            return
        for d in MACHINE_DIRS:
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        os.chmod(os.path.join(self.root, "tmp"), 0o1777)
        for d in ("nix/var/nix/profiles", "run/nixos", "run/pynix", "var/log/pynix"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)

    def namespace_args(self) -> list[str]:
        """Arguments of ``python -m pynix.os.launcher`` that say which machine."""
        return ["--root", self.root, "--store-dir", self.store_dir]
