"""Settings in nix.conf syntax."""

from __future__ import annotations

from pathlib import Path

import pytest

from pynix.config import ConfigError, load_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_files_then_env_then_options(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".config" / "pynix" / "pynix.conf",
          "# comment\nmax-jobs = 4\ncores=2\nsandbox-paths = /bin/sh=/usr/bin/sh  # trailing\n"
          "extra-sandbox-paths = /etc/x\nkeep-failed = true\n")
    env = {"HOME": str(home), "PYNIX_CONFIG": "cores = 3"}
    cfg = load_config([("max-jobs", "auto")], env=env)
    assert cfg["cores"] == 3
    assert cfg["max-jobs"] >= 1
    assert cfg["sandbox-paths"] == ["/bin/sh=/usr/bin/sh", "/etc/x"]
    assert cfg["keep-failed"] is True
    assert cfg["sandbox"] is True  # default


def test_include_and_optional_include(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".config" / "pynix" / "more.conf", "timeout = 10\n")
    write(home / ".config" / "pynix" / "pynix.conf",
          "include more.conf\n!include missing.conf\nsandbox = relaxed\n")
    cfg = load_config(env={"HOME": str(home)})
    assert cfg["timeout"] == 10
    assert cfg["sandbox"] == "relaxed"


def test_bad_value_names_file_and_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    conf = write(home / ".config" / "pynix" / "pynix.conf", "\nmax-jobs = lots\n")
    with pytest.raises(ConfigError, match=f"{conf}:2: invalid value for 'max-jobs'"):
        load_config(env={"HOME": str(home)})


def test_unknown_setting_is_a_warning(tmp_path: Path) -> None:
    cfg = load_config([("no-such-thing", "1")], env={"HOME": str(tmp_path)})
    assert cfg.warnings == ["unknown setting 'no-such-thing' (--option)"]


def test_missing_include_is_an_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".config" / "pynix" / "pynix.conf", "include nope.conf\n")
    with pytest.raises(ConfigError, match="cannot include"):
        load_config(env={"HOME": str(home)})
