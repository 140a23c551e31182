"""One test per sandbox promise (spec 8.4), each with a control showing that
the same builder *does* see the thing without the sandbox (or with the
exception the spec makes), so that none of them can pass vacuously."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import threading
from collections.abc import Iterator

import pytest

from pynix.build.sandbox import ETC_GROUP, ETC_HOSTS, ETC_PASSWD, SandboxPath
from pynix.build.scheduler import BuildStatus
from pynix.compat.hashing import Hash

from .conftest import Env, usr_sandbox_paths

pytestmark = pytest.mark.usefixtures("bwrap")


def _built(env: Env, drv: str, **kw: object) -> str:
    report = env.build(drv, **kw)
    result = report.results[drv]
    assert result.status == BuildStatus.BUILT, (result.error, result.log_tail)
    return env.out(drv)


def test_builder_cannot_read_host_files(env: Env) -> None:
    with open("/etc/hostname", encoding="utf-8") as fh:
        host_name = fh.read().strip()
    assert host_name
    script = (
        'if [ -e /etc/hostname ]; then read h < /etc/hostname; echo "hostname:$h"; '
        'else echo "no /etc/hostname"; fi > $out; '
        'if [ -e /root ]; then echo "root visible" >> $out; else echo "no /root" >> $out; fi'
    )
    drv = env.drv("peek", script)
    out = env.read(_built(env, drv))
    assert out == "no /etc/hostname\nno /root\n"

    # control: without the sandbox the same builder reads the host file
    drv2 = env.drv("peek2", script)
    out2 = env.read(_built(env, drv2, sandbox=False))
    assert f"hostname:{host_name}\n" in out2
    assert "root visible" in out2


@pytest.fixture
def tcp_server() -> Iterator[tuple[int, bytes]]:
    payload = b"hello from the host\n"
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()
    connections: list[int] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            connections.append(1)
            with conn:
                conn.sendall(payload)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], payload
    finally:
        stop.set()
        thread.join()
        server.close()


_CONNECT = (
    '/usr/bin/python3 -c "import socket,sys,os\n'
    "try:\n"
    "    s = socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
    "    data = s.recv(100)\n"
    "except OSError as e:\n"
    "    data = b'connect failed: ' + type(e).__name__.encode() + b'\\n'\n"
    "open(os.environ['out'], 'wb').write(data)\n\""
)


def test_builder_cannot_reach_a_local_server(env: Env, tcp_server: tuple[int, bytes]) -> None:
    port, payload = tcp_server
    drv = env.drv("net", _CONNECT.format(port=port))
    out = env.read(_built(env, drv, sandbox_paths=usr_sandbox_paths()))
    assert out.startswith("connect failed: ")

    # control: a fixed-output derivation keeps the network and gets the payload
    fod = env.drv(
        "net-fod",
        _CONNECT.format(port=port),
        fixed=("net-fod", Hash("sha256", hashlib.sha256(payload).digest()), False),
    )
    assert env.read(_built(env, fod, sandbox_paths=usr_sandbox_paths())).encode() == payload


def test_builder_sees_only_its_closure(env: Env) -> None:
    outsider = env.store.add_text_to_store("outsider", b"secret")
    dep_src = env.store.add_text_to_store("dep-src", b"a source")
    text_ref = env.store.add_text_to_store("with-ref", b"refers to " + dep_src.encode(), [dep_src])
    dep = env.drv("dep", "echo dep > $out")
    script = "for f in /nix/store/*; do echo $f; done > $out"
    drv = env.drv("lister", script, deps=[dep], srcs=[text_ref])
    listing = env.read(_built(env, drv)).split()
    expected = {env.out(dep), text_ref, dep_src, env.out(drv)}
    assert set(listing) == expected
    assert outsider not in listing

    # control: without the sandbox a chroot store's builder still sees only the
    # closure at /nix/store, but it does see the host file system
    drv2 = env.drv("lister2", script + "; [ -d /usr/bin ] && echo host >> $out", deps=[dep])
    listing2 = env.read(_built(env, drv2, sandbox=False)).split()
    assert "host" in listing2


def test_builder_cannot_leave_a_setuid_file(env: Env) -> None:
    script = (
        "mkdir $out; echo x > $out/f; chmod 6755 $out/f; chmod 1777 $out; "
        "if [ -u $out/f ] && [ -g $out/f ]; then echo yes > $out/was-setuid; fi"
    )
    drv = env.drv("suid", script, PATH="/usr/bin")
    out = _built(env, drv, sandbox_paths=usr_sandbox_paths())
    real = env.real(out)
    assert env.read(out + "/was-setuid") == "yes\n"  # the builder did set the bits
    mode = os.lstat(real + "/f").st_mode
    assert stat.S_IMODE(mode) == 0o555
    assert stat.S_IMODE(os.lstat(real).st_mode) == 0o555
    assert os.lstat(real + "/f").st_mtime == 1
    assert stat.S_IMODE(os.lstat(real + "/was-setuid").st_mode) == 0o444


def test_identity_hostname_and_etc(env: Env) -> None:
    script = (
        "{ /usr/bin/id; /usr/bin/id -u; /usr/bin/id -g; read h < /proc/sys/kernel/hostname; "
        "echo $h; while read -r l; do case $l in Cap*) echo $l;; esac; done < /proc/self/status; "
        "} > $out"
    )
    drv = env.drv("ident", script)
    out = env.read(_built(env, drv, sandbox_paths=usr_sandbox_paths())).splitlines()
    assert out[0] == "uid=1000(nixbld) gid=100(nixbld) groups=100(nixbld)"
    assert out[1:4] == ["1000", "100", "localhost"]
    caps = {line.split(":")[0]: line.split()[1] for line in out[4:]}
    assert caps["CapEff"] == "0000000000000000"
    assert caps["CapPrm"] == "0000000000000000"
    assert caps["CapBnd"] == "0000000000000000"

    files = (
        'for f in /etc/passwd /etc/group /etc/hosts; do echo "== $f"; '
        'while IFS= read -r l; do echo "$l"; done < $f; done > $out; '
        "for f in /etc/*; do echo $f; done >> $out"
    )
    drv2 = env.drv("etc", files)
    text = env.read(_built(env, drv2))
    assert text == (
        f"== /etc/passwd\n{ETC_PASSWD}== /etc/group\n{ETC_GROUP}== /etc/hosts\n{ETC_HOSTS}"
        "/etc/group\n/etc/hosts\n/etc/passwd\n"
    )


def test_minimal_dev_proc_tmp_and_build_dir(env: Env) -> None:
    script = (
        "{ for f in /dev/*; do echo $f; done; for f in /*; do echo $f; done; "
        "echo $PWD $NIX_BUILD_TOP; [ -w /tmp ] && echo tmp-writable; "
        "read x < /proc/self/stat && echo proc-ok; } > $out"
    )
    drv = env.drv("dev", script)
    lines = env.read(_built(env, drv)).splitlines()
    devs = {line for line in lines if line.startswith("/dev/")}
    assert {
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
    } <= devs
    assert {"/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/shm"} <= devs
    assert not any(d.startswith("/dev/sd") or d.startswith("/dev/vd") for d in devs)
    tops = {line for line in lines if line.count("/") == 1 and " " not in line}
    assert tops == {"/bin", "/build", "/dev", "/etc", "/lib", "/lib64", "/nix", "/proc", "/tmp"}
    assert "/build /build" in lines
    assert "tmp-writable" in lines
    assert "proc-ok" in lines


def test_no_shell_unless_configured(env: Env) -> None:
    drv = env.drv("noshell", "echo hi > $out")
    report = env.build(drv, sandbox_paths=[])
    result = report.results[drv]
    assert result.status == BuildStatus.FAILED
    assert "failed with exit code" in (result.error or "")
    assert any("/bin/sh" in line for line in result.log_tail)


def test_sandbox_paths_target_source_form(env: Env, tmp_path: object) -> None:
    host = os.path.join(str(tmp_path), "host-file")
    with open(host, "w", encoding="utf-8") as fh:
        fh.write("from the host\n")
    paths = [*env.settings().sandbox_paths, SandboxPath("/data/file", host)]
    drv = env.drv("bind", "read x < /data/file; echo $x > $out; echo more >> /data/file || true")
    out = _built(env, drv, sandbox_paths=paths)
    assert env.read(out) == "from the host\n"
    with open(host, encoding="utf-8") as fh:
        assert fh.read() == "from the host\n"  # bound read-only
