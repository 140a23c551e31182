"""Settings, in ``nix.conf`` syntax.

Read, later files overriding earlier ones: ``/etc/pynix/pynix.conf``, then
``$XDG_CONFIG_HOME/pynix/pynix.conf`` (default ``~/.config``), then the
contents of the ``PYNIX_CONFIG`` environment variable, then ``--option NAME
VALUE`` given on the command line.

The syntax is Nix's: ``name = value`` lines, ``#`` comments, values split on
whitespace for list settings, ``include FILE`` and ``!include FILE`` (the
latter silently skipped when the file is missing), ``extra-NAME = ...``
appending to a list setting.  An unknown setting is a warning, as in Nix; a
malformed value is an error that names the file and line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


class ConfigError(Exception):
    pass


def _bool(v: str) -> bool:
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise ValueError(f"'{v}' is not a Boolean (true or false)")


def _int(v: str) -> int:
    try:
        return int(v)
    except ValueError:
        raise ValueError(f"'{v}' is not an integer") from None


def _jobs(v: str) -> int:
    if v == "auto":
        return os.cpu_count() or 1
    return _int(v)


def _sandbox(v: str) -> bool | str:
    if v == "relaxed":
        return "relaxed"
    return _bool(v)


def _list(v: str) -> list[str]:
    return v.split()


@dataclass
class Setting:
    parse: Callable[[str], Any]
    default: Any
    doc: str
    is_list: bool = False


SETTINGS: dict[str, Setting] = {
    "max-jobs": Setting(_jobs, 1, "builds run in parallel (a number or auto)"),
    "cores": Setting(_int, 0, "CPU cores a build may use (NIX_BUILD_CORES; 0: all)"),
    "sandbox": Setting(_sandbox, True, "run builds in a sandbox (true, false, relaxed)"),
    "sandbox-paths": Setting(_list, [], "host paths visible in the sandbox, target=source",
                             is_list=True),
    "sandbox-fallback": Setting(_bool, False, "build without a sandbox if none is available"),
    "keep-failed": Setting(_bool, False, "keep the build directory of a failed build"),
    "keep-going": Setting(_bool, False, "go on with other builds after one fails"),
    "keep-outputs": Setting(_bool, False, "GC keeps outputs of live derivations"),
    "keep-derivations": Setting(_bool, True, "GC keeps derivations of live outputs"),
    "build-dir": Setting(str, "", "where build directories are made (default: $TMPDIR)"),
    "substituters": Setting(_list, [], "binary caches to fetch from", is_list=True),
    "trusted-public-keys": Setting(_list, [], "keys whose signatures are trusted",
                                   is_list=True),
    "require-sigs": Setting(_bool, True, "substituted paths must be signed"),
    "secret-key-files": Setting(_list, [], "keys to sign built paths with", is_list=True),
    "timeout": Setting(_int, 0, "seconds a build may run (0: no limit)"),
    "max-silent-time": Setting(_int, 0, "seconds a build may print nothing (0: no limit)"),
    "experimental-features": Setting(_list, [], "enabled experimental features",
                                     is_list=True),
    "system": Setting(str, "x86_64-linux", "the platform builds are for"),
    "extra-platforms": Setting(_list, [], "other platforms this machine builds for",
                               is_list=True),
    "store": Setting(str, "", "the default store URL"),
    "pure-eval": Setting(_bool, False, "evaluate in pure mode"),
    "allow-import-from-derivation": Setting(_bool, True, "allow import-from-derivation"),
    "warn-dirty": Setting(_bool, True, "warn about dirty Git trees"),
}


@dataclass
class Config:
    values: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        return SETTINGS[name].default

    def set(self, name: str, value: str, where: str = "--option") -> None:
        append = False
        if name.startswith("extra-") and name[6:] in SETTINGS:
            name = name[6:]
            append = True
        setting = SETTINGS.get(name)
        if setting is None:
            self.warnings.append(f"unknown setting '{name}' ({where})")
            return
        try:
            parsed = setting.parse(value.strip())
        except ValueError as e:
            raise ConfigError(f"{where}: invalid value for '{name}': {e}") from None
        if append and setting.is_list:
            parsed = list(self[name]) + parsed
        self.values[name] = parsed

    def load_text(self, text: str, where: str, base_dir: str | None = None) -> None:
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            words = line.split()
            if words[0] in ("include", "!include"):
                if len(words) != 2:
                    raise ConfigError(f"{where}:{n}: '{words[0]}' needs one file name")
                path = words[1]
                if base_dir and not os.path.isabs(path):
                    path = os.path.join(base_dir, path)
                if not os.path.exists(path):
                    if words[0] == "include":
                        raise ConfigError(f"{where}:{n}: cannot include '{path}': no such file")
                    continue
                self.load_file(path)
                continue
            if "=" not in line:
                raise ConfigError(f"{where}:{n}: expected 'name = value', got '{line}'")
            name, _, value = line.partition("=")
            self.set(name.strip(), value, f"{where}:{n}")

    def load_file(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as e:
            raise ConfigError(f"cannot read '{path}': {e.strerror}") from None
        self.load_text(text, path, os.path.dirname(path))


def config_files(env: dict[str, str] | None = None) -> list[str]:
    env = dict(os.environ) if env is None else env
    home = env.get("HOME", os.path.expanduser("~"))
    user = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return ["/etc/pynix/pynix.conf", os.path.join(user, "pynix", "pynix.conf")]


def load_config(
    options: Iterable[tuple[str, str]] = (), env: dict[str, str] | None = None
) -> Config:
    """The settings in effect: files, ``PYNIX_CONFIG``, then ``--option`` pairs."""
    env = dict(os.environ) if env is None else env
    cfg = Config()
    for path in config_files(env):
        if os.path.exists(path):
            cfg.load_file(path)
    extra = env.get("PYNIX_CONFIG")
    if extra:
        cfg.load_text(extra, "PYNIX_CONFIG")
    for name, value in options:
        cfg.set(name, value)
    return cfg
