"""Repairing a damaged store path by building it again (``--repair``).

The store can only check a path; recreating its contents needs the build
layer: the path's deriver is built again, as ``--check`` builds, and the
fresh output replaces the damaged one if its NAR hash is the registered
one (:meth:`pynix.store.local.LocalStore.replace_path_contents`).  Paths
without a derivation (sources added with ``pynix store add``) cannot be
repaired this way.

The scheduler's ``--check`` mode compares a rebuilt output with the
registered one and then discards it; :class:`_KeepingBuilder` keeps it
instead.  It hooks into :class:`~pynix.build.local_build.LocalBuilder`'s
comparison step, an internal of the build layer: a repair build mode there
would be the proper home for this.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..build.local_build import BuiltOutput, LocalBuilder, LocalBuildResult
from ..compat.derivation import DerivationError
from ..store.api import StoreError
from ..store.local import LocalStore
from ..store.staging import Staging
from .storeopts import StoreContext


class _KeepingBuilder(LocalBuilder):
    """A builder whose ``--check`` builds leave their outputs in ``keep_dir``."""

    keep_dir = ""

    def _compare(self, built: dict[str, BuiltOutput], outputs: dict[str, str]
                 ) -> LocalBuildResult:  # fmt: skip
        for name, out in built.items():
            os.rename(out.location, os.path.join(self.keep_dir, name))
        return LocalBuildResult(outputs, built=True)


def _deriver(store: LocalStore, path: str) -> str | None:
    deriver = store.query_path_info(path).deriver
    if deriver and store.is_valid_path(deriver):
        return deriver
    derivers = store.query_valid_derivers(path)
    return min(derivers) if derivers else None


def repair_hook(ctx: StoreContext) -> Callable[[str], bool]:
    """``path -> repaired?`` for :meth:`LocalStore.verify_report`."""
    store = ctx.local

    def repair(path: str) -> bool:
        deriver = _deriver(store, path)
        if deriver is None:
            return False
        try:
            drv = store.read_derivation(deriver)
        except (OSError, StoreError, DerivationError):
            return False
        names = [n for n, out in drv.outputs.items() if out.path == path]
        if not names:
            return False
        ctx.info(f"repairing path '{path}' by building '{deriver}'...")
        # checking needs every output valid: build the others first
        if not ctx.scheduler().build([(deriver, set(drv.outputs))]).success:
            return False
        with Staging(store.layout) as staging:
            os.makedirs(staging.path)
            scheduler = ctx.scheduler()
            builder = _KeepingBuilder(store, scheduler.settings, scheduler.log_dir)
            builder.keep_dir = staging.path
            scheduler.builder = builder
            report = scheduler.build([(deriver, set(drv.outputs))], check=True)
            kept = os.path.join(staging.path, names[0])
            if not report.success or not os.path.lexists(kept):
                return False
            store.replace_path_contents(path, kept)
        return True

    return repair
