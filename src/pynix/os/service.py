"""What a service unit asks for, read from its unit file: the environment, the
directories to create, the commands of each phase, restart and stop behaviour."""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass

from .accounts import Credentials
from .calendar import CalendarError, parse_timespan
from .cmdline import Command, parse_command, parse_environment, parse_environment_file
from .units import Unit, instance_of

# systemd's default PATH for services
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"

# (key, base directory, environment variable) of the directories systemd creates
DIRECTORY_KINDS = (
    ("StateDirectory", "/var/lib", "STATE_DIRECTORY"),
    ("RuntimeDirectory", "/run", "RUNTIME_DIRECTORY"),
    ("CacheDirectory", "/var/cache", "CACHE_DIRECTORY"),
    ("LogsDirectory", "/var/log", "LOGS_DIRECTORY"),
    ("ConfigurationDirectory", "/etc", "CONFIGURATION_DIRECTORY"),
)

RESTART_VALUES = ("no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort",
                  "always")  # fmt: skip


class ServiceError(Exception):
    pass


def specifiers(unit: Unit, value: str, home: str = "/root") -> str:
    """Expand ``%i``, ``%n``, ``%N``, ``%p``, ``%t``, ``%S``, ``%C``, ``%L``, ``%h``, ``%%``."""
    name = unit.name
    prefix = name.split("@", 1)[0] if "@" in name else name.rsplit(".", 1)[0]
    table = {"i": instance_of(name), "I": instance_of(name), "n": name,
             "N": name.rsplit(".", 1)[0], "p": prefix, "P": prefix, "t": "/run",
             "S": "/var/lib", "C": "/var/cache", "L": "/var/log", "h": home, "%": "%"}  # fmt: skip
    return re.sub(r"%(.)", lambda m: table.get(m.group(1), m.group(0)), value)


def parse_seconds(text: str | None, default: float) -> float:
    """A time span setting (``90``, ``5s``, ``1min 30s``, ``100ms``, ``infinity``);
    ``default`` when it is empty or not a time span (systemd ignores such a line)."""
    if text is None or text.strip() == "":
        return default
    text = text.strip()
    if text == "infinity":
        return 365 * 86400.0
    try:
        return parse_timespan(text)
    except CalendarError:
        return default


def signal_number(name: str | None, default: int = signal.SIGTERM) -> int:
    if not name:
        return default
    name = name.strip().upper()
    if name.isdigit():
        return int(name)
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ServiceError(f"unknown signal '{name}'") from None


@dataclass
class Directory:
    path: str
    mode: int


class ServiceSpec:
    """A service unit, read for running it."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.name = unit.name

    def _s(self, key: str, default: str | None = None) -> str | None:
        v = self.unit.get("Service", key, default)
        return specifiers(self.unit, v) if v is not None else None

    @property
    def type(self) -> str:
        return self._s("Type") or "simple"

    @property
    def user(self) -> str | None:
        return self._s("User")

    @property
    def group(self) -> str | None:
        return self._s("Group")

    @property
    def supplementary_groups(self) -> list[str]:
        return self.unit.words("Service", "SupplementaryGroups")

    @property
    def restart(self) -> str:
        r = self._s("Restart") or "no"
        if r not in RESTART_VALUES:
            raise ServiceError(f"unit {self.name}: invalid Restart={r}")
        return r

    @property
    def remain_after_exit(self) -> bool:
        return self.unit.get_bool("Service", "RemainAfterExit")

    @property
    def kill_signal(self) -> int:
        return signal_number(self._s("KillSignal"))

    @property
    def kill_mode(self) -> str:
        return self._s("KillMode") or "control-group"

    @property
    def timeout_start(self) -> float:
        return parse_seconds(self._s("TimeoutStartSec") or self._s("TimeoutSec"), 90)

    @property
    def timeout_stop(self) -> float:
        return parse_seconds(self._s("TimeoutStopSec") or self._s("TimeoutSec"), 90)

    @property
    def restart_sec(self) -> float:
        return parse_seconds(self._s("RestartSec"), 0.1)

    @property
    def success_exit_status(self) -> list[int]:
        return [0] + [int(w) for w in self.unit.words("Service", "SuccessExitStatus")
                      if w.isdigit()]

    @property
    def umask(self) -> int:
        v = self._s("UMask")
        return int(v, 8) if v else 0o022

    def commands(self, key: str, env: dict[str, str]) -> list[Command]:
        out = []
        for line in self.unit.values("Service", key):
            home = env.get("HOME", "/root")
            out.append(parse_command(specifiers(self.unit, line, home), env))
        return out

    def directories(self) -> list[tuple[str, list[Directory]]]:
        """Per kind (its environment variable), the directories to create."""
        out = []
        for key, base, var in DIRECTORY_KINDS:
            names = [specifiers(self.unit, w) for w in self.unit.words("Service", key)]
            if not names:
                continue
            mode_text = self._s(key + "Mode")
            mode = int(mode_text, 8) if mode_text else 0o755
            dirs = []
            for n in names:
                n = n.split(":", 1)[0].strip("/")
                if not n or ".." in n.split("/"):
                    raise ServiceError(f"unit {self.name}: invalid {key}={n}")
                dirs.append(Directory(os.path.join(base, n), mode))
            out.append((var, dirs))
        return out

    def environment(self, creds: Credentials | None, etc_reader: bool = True) -> dict[str, str]:
        """The environment systemd would give the service."""
        env = {"PATH": DEFAULT_PATH}
        if creds is not None and self.user is not None:
            env.update(HOME=creds.home, USER=creds.name, LOGNAME=creds.name)
            if creds.shell:
                env["SHELL"] = creds.shell
        values = [specifiers(self.unit, v) for v in self.unit.values("Service", "Environment")]
        env.update(parse_environment(values))
        for f in self.unit.values("Service", "EnvironmentFile"):
            optional = f.startswith("-")
            path = specifiers(self.unit, f.lstrip("-"))
            try:
                with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                    env.update(parse_environment_file(fh.read()))
            except OSError as e:
                if not optional:
                    raise ServiceError(
                        f"unit {self.name}: cannot read EnvironmentFile '{path}': "
                        f"{e.strerror}") from None
        for var, dirs in self.directories():
            env[var] = ":".join(d.path for d in dirs)
        return env

    @property
    def working_directory(self) -> tuple[str | None, bool]:
        """(directory or None, whether a missing one is ignored)."""
        wd = self._s("WorkingDirectory")
        if not wd:
            return None, False
        if wd.startswith("-"):
            return wd[1:], True
        return wd, False
