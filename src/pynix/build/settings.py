"""Build settings: what ``pynix.conf`` and command-line flags control.

Names follow nix.conf (``max-jobs``, ``cores``, ``sandbox``, ``sandbox-paths``,
``keep-failed``, ``keep-going``...); :meth:`BuildSettings.from_config` reads
them from a parsed :class:`pynix.config.Config`.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from typing import Any, Protocol

from .sandbox import SandboxPath, parse_sandbox_paths


def default_system() -> str:
    machine = platform.machine()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine)
    return f"{arch}-{platform.system().lower()}"


@dataclass
class BuildSettings:
    # builds running at once (``-j``); 0 forbids local builds
    max_jobs: int = 1
    # NIX_BUILD_CORES (``--cores``); 0 means "all", as the builder sees fit
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    sandbox: bool = True
    # build unsandboxed when bubblewrap is missing (else that is an error)
    sandbox_fallback: bool = False
    sandbox_paths: list[SandboxPath] = field(default_factory=list)
    keep_failed: bool = False
    keep_going: bool = False
    # where build directories are made (TMPDIR by default)
    build_dir_parent: str | None = None
    # where logs go; None: the store's log directory; "" keeps no logs
    log_dir: str | None = None
    log_lines: int = 10
    # builder output also goes to the caller (``-L``/verbose)
    print_build_logs: bool = False
    system: str = field(default_factory=default_system)
    extra_platforms: list[str] = field(default_factory=list)
    system_features: list[str] = field(
        default_factory=lambda: ["nixos-test", "benchmark", "big-parallel"]
    )
    # seconds a build may take (0 = no limit)
    timeout: int = 0

    @classmethod
    def from_config(cls, config: ConfigLike) -> BuildSettings:
        """Settings from a :class:`pynix.config.Config` (parsed nix.conf values)."""
        s = cls()
        explicit = config.values
        s.max_jobs = int(config["max-jobs"])
        if "cores" in explicit:  # an explicit 0 is passed on: "use all cores"
            s.cores = int(config["cores"])
        s.sandbox = bool(config["sandbox"])  # "relaxed" counts as on
        s.sandbox_fallback = bool(config["sandbox-fallback"])
        s.sandbox_paths = parse_sandbox_paths(config["sandbox-paths"])
        s.keep_failed = bool(config["keep-failed"])
        s.keep_going = bool(config["keep-going"])
        s.build_dir_parent = config["build-dir"] or None
        s.system = str(config["system"])
        s.extra_platforms = list(config["extra-platforms"])
        s.timeout = int(config["timeout"])
        return s


class ConfigLike(Protocol):
    """What :meth:`BuildSettings.from_config` reads (``pynix.config.Config``)."""

    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any: ...
