"""Realising derivations: scheduler, sandbox, builder environment, reference
scanning, fixed-output fetchers, logs.

How a command builds things::

    from pynix.build import BuildSettings, Scheduler
    settings = BuildSettings.from_config(config)      # pynix.config.Config
    settings.max_jobs, settings.keep_going = 4, True  # command-line flags
    scheduler = Scheduler(store, settings, progress=print_event, on_log=print_log,
                          substituter=cache.try_fetch)
    report = scheduler.build(["/nix/store/...-x.drv", "/nix/store/...-y.drv^out,dev"])
    for target in report.targets:
        result = report.results[target]   # BuildResult: status, outputs, error...

``report.success`` says whether everything asked for is valid now;
``report.failures`` lists the builds that failed themselves (their ``error``
is Nix's message, ``log_tail`` the last ``log-lines`` lines of the log,
``kept_build_dir`` the directory kept by ``keep_failed``).
:meth:`Scheduler.realise` raises :class:`BuildError` instead.  ``check=True``
rebuilds valid targets and reports :attr:`BuildStatus.NOT_DETERMINISTIC`
with both NAR hashes.  Logs are read back with :func:`read_log` (``pynix
log``).  :class:`BuildingEvalStore` lets the evaluator write into a real store
and build for import-from-derivation.

Modules: :mod:`.scheduler` (graphs), :mod:`.local_build` (one derivation),
:mod:`.sandbox` (bubblewrap), :mod:`.environment` (spec 8.1-8.3),
:mod:`.outputs` + :mod:`.refscan` + :mod:`.canonicalise` (spec 7),
:mod:`.fetchurl` (``builtin:fetchurl``), :mod:`.logs`, :mod:`.locks`,
:mod:`.settings`, :mod:`.evalstore`.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .evalstore import BuildingEvalStore
    from .local_build import BuildFailure
    from .logs import default_log_dir, find_log, read_log
    from .sandbox import SandboxPath, parse_sandbox_paths
    from .scheduler import (
        BuildError,
        BuildEvent,
        BuildReport,
        BuildResult,
        BuildStatus,
        Scheduler,
        Substituter,
        parse_target,
    )
    from .settings import BuildSettings

# name -> the module defining it, imported when the name is first used:
# a command that needs one corner of this package does not load all of it
_LAZY: dict[str, str] = {
    "BuildError": ".scheduler",
    "BuildEvent": ".scheduler",
    "BuildFailure": ".local_build",
    "BuildReport": ".scheduler",
    "BuildResult": ".scheduler",
    "BuildSettings": ".settings",
    "BuildStatus": ".scheduler",
    "BuildingEvalStore": ".evalstore",
    "SandboxPath": ".sandbox",
    "Scheduler": ".scheduler",
    "Substituter": ".scheduler",
    "default_log_dir": ".logs",
    "find_log": ".logs",
    "parse_sandbox_paths": ".sandbox",
    "parse_target": ".scheduler",
    "read_log": ".logs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "BuildError",
    "BuildEvent",
    "BuildFailure",
    "BuildReport",
    "BuildResult",
    "BuildSettings",
    "BuildStatus",
    "BuildingEvalStore",
    "SandboxPath",
    "Scheduler",
    "Substituter",
    "default_log_dir",
    "find_log",
    "parse_sandbox_paths",
    "parse_target",
    "read_log",
]
