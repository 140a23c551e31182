"""Build settings from nix.conf-style configuration."""

from __future__ import annotations

from pynix.build.sandbox import SandboxPath
from pynix.build.settings import BuildSettings
from pynix.config import Config


def test_from_config() -> None:
    cfg = Config()
    cfg.load_text(
        "max-jobs = 3\ncores = 0\nsandbox = false\nsandbox-paths = /bin/sh=/x/sh /usr?\n"
        "extra-sandbox-paths = /opt\nkeep-failed = true\nkeep-going = true\n"
        "build-dir = /var/tmp\ntimeout = 7\n",
        "test.conf",
    )
    s = BuildSettings.from_config(cfg)
    assert (s.max_jobs, s.cores, s.sandbox, s.keep_failed, s.keep_going) == (
        3,
        0,
        False,
        True,
        True,
    )
    assert s.sandbox_paths == [
        SandboxPath("/bin/sh", "/x/sh"),
        SandboxPath("/usr", "/usr", optional=True),
        SandboxPath("/opt", "/opt"),
    ]
    assert s.build_dir_parent == "/var/tmp"
    assert s.timeout == 7


def test_defaults() -> None:
    s = BuildSettings.from_config(Config())
    assert s.max_jobs == 1 and s.sandbox and not s.keep_failed
    assert s.cores >= 1  # no explicit "cores": all of this machine's
    assert s.build_dir_parent is None
    cfg = Config()
    cfg.load_text("sandbox = relaxed\n", "x")
    assert BuildSettings.from_config(cfg).sandbox
