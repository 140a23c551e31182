"""Builders that run inside pynix instead of as a builder process.

A derivation whose ``builder`` is ``builtin:NAME`` (and whose ``system`` is
``builtin`` or this machine's) is built by the Python function registered
here under that name, as Nix builds ``builtin:fetchurl``.  The function gets a
:class:`BuiltinContext`: the derivation, where to write each output (a
private location, moved into the store afterwards), how to read its inputs,
a scratch directory and a log.  Everything after it -- fixed-output hash
checks, reference scanning, canonicalisation, registration -- is the same as
for any other build.

Builders are named by module and function and imported on first use, so
that a pynix that never builds a Debian package never imports that code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..compat.derivation import Derivation


class BuiltinError(Exception):
    """A builtin builder failed; the message says why (shown as the build error)."""


@dataclass
class BuiltinContext:
    drv: Derivation
    # output name -> the real path to create it at
    outputs: dict[str, str]
    # store path of an input (or output) -> its real path on this machine
    real_path: Callable[[str], str]
    # an empty directory for scratch files, removed after the build
    build_dir: str
    log: Callable[[str], None]

    def attr(self, name: str, default: str | None = None) -> str:
        """A derivation attribute (environment variable), or an error naming it."""
        value = self.drv.env.get(name, default)
        if value is None:
            raise BuiltinError(f"{self.drv.builder}: attribute '{name}' missing")
        return value


BuiltinBuilder = Callable[[BuiltinContext], None]

# builder name -> "module:function"
_REGISTRY: Final[dict[str, str]] = {
    "builtin:fetchurl": "pynix.build.fetchurl:build",
    "builtin:fetchzip": "pynix.build.fetchzip:build",
    # pynix's own: Debian packages and PyPI files as pinned inputs
    "builtin:fetch-deb": "pynix.sources.fetch:build_fetch_deb",
    "builtin:fetch-pypi": "pynix.sources.fetch:build_fetch_pypi",
    "builtin:fetch-debian-source": "pynix.sources.source_fetch:build_fetch_debian_source",
    "builtin:import-deb": "pynix.sources.importer:build_import_deb",
    "builtin:unpack-wheel": "pynix.sources.importer:build_unpack_wheel",
}


def register(name: str, target: str) -> None:
    """Make ``builtin:NAME`` builds call ``target`` (``"package.module:function"``)."""
    _REGISTRY[name] = target


def is_builtin(builder: str) -> bool:
    return builder in _REGISTRY


def builtin_builder(builder: str) -> BuiltinBuilder:
    target = _REGISTRY.get(builder)
    if target is None:
        raise BuiltinError(f"unsupported builtin builder '{builder}'")
    module_name, _, function = target.partition(":")
    fn: BuiltinBuilder = getattr(importlib.import_module(module_name), function)
    return fn
