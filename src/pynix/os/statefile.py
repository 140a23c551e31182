"""The small files in a machine's ``/run/pynix`` through which ``pynix os``
and the machine's activator daemon tell each other what is active (timers,
sockets) and what became of it.  Each is written whole and renamed into
place, so a reader sees the old text or the new one, never a part.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any


def write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.rename(tmp, path)


def read_dict(path: str) -> dict[str, Any]:
    """The JSON object in ``path``; empty when it is missing or not an object."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class Watched:
    """A file another process rewrites: read again only when it changed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._mtime = -1
        self._data: dict[str, Any] = {}

    def read(self) -> dict[str, Any]:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return {}
        if mtime != self._mtime:
            with contextlib.suppress(OSError, ValueError):
                with open(self.path) as fh:
                    self._data = json.load(fh)
                self._mtime = mtime
        return self._data


class Report:
    """A file this process writes for others: written only when it changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._written = ""

    def write(self, data: dict[str, Any]) -> None:
        text = json.dumps(data, sort_keys=True)
        if text != self._written:
            write_atomic(self.path, text)
            self._written = text
