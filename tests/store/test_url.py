"""Store URLs and the default store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pynix.store import LocalStore, Store, StoreError, open_store, register_store_scheme
from pynix.store.url import default_store_url, parse_store_url


def test_parse() -> None:
    assert parse_store_url("local") == ("local", {})
    assert parse_store_url("local?root=/x/y") == ("local", {"root": "/x/y"})
    assert parse_store_url("file:///c?compression=xz") == ("file:///c", {"compression": "xz"})


def test_local_with_root(tmp_path: Path) -> None:
    with open_store(f"local?root={tmp_path}/a") as s:
        assert isinstance(s, LocalStore)
        assert s.real_path("/nix/store/x-y") == f"{tmp_path}/a/nix/store/x-y"
        assert s.real_path("/nix/store") == f"{tmp_path}/a/nix/store"
        assert s.url == f"local?root={tmp_path}/a"
        with pytest.raises(StoreError, match="not in the Nix store"):
            s.real_path("/etc/passwd")
    with open_store(str(tmp_path / "b")) as s:  # a bare directory, as Nix's --store DIR
        assert isinstance(s, LocalStore) and s.root == f"{tmp_path}/b"


def test_relative_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("local?root=rel") as s:
        assert isinstance(s, LocalStore) and s.root == f"{tmp_path}/rel"


def test_errors() -> None:
    with pytest.raises(StoreError, match="unknown parameter"):
        open_store("local?root=/tmp/x&frobnicate=1")
    with pytest.raises(StoreError, match="don't know how to open"):
        open_store("gopher://example")


def test_default_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYNIX_STORE", f"local?root={tmp_path}/env")
    assert default_store_url() == f"local?root={tmp_path}/env"
    with open_store() as s:
        assert isinstance(s, LocalStore) and s.root == f"{tmp_path}/env"
    monkeypatch.delenv("PYNIX_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if os.geteuid() == 0:
        assert default_store_url() == "local"
    else:
        monkeypatch.setattr("pynix.store.url._writable_real_nix", lambda: False)
        assert default_store_url() == f"local?root={tmp_path}/data/pynix/root"


def test_default_for_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYNIX_STORE", raising=False)
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setattr("pynix.store.url._writable_real_nix", lambda: False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_store_url() == f"local?root={tmp_path}/data/pynix/root"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_url() == f"local?root={tmp_path}/home/.local/share/pynix/root"


def test_registered_schemes(tmp_path: Path) -> None:
    opened: list[tuple[str, dict[str, str]]] = []

    def factory(url: str, params: dict[str, str]) -> Store:
        opened.append((url, params))
        return LocalStore(str(tmp_path / "fake"))

    register_store_scheme("test-scheme", factory)
    with open_store("test-scheme://somewhere?x=1") as s:
        assert isinstance(s, LocalStore)
    assert opened == [("test-scheme://somewhere?x=1", {"x": "1"})]
