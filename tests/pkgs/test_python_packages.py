"""``python3.withPackages`` from PyPI wheels pinned in
``pkgs/python3/pypi-lock.json``: flask (and werkzeug, jinja2, markupsafe,
itsdangerous, click, blinker), psycopg2-binary (libpq bundled) and requests
(urllib3, idna, charset-normalizer, certifi), built by the real pynix in a
chroot store and run in a bubblewrap sandbox that shows only the closure at
/nix/store (no host /usr, /lib or /etc; a private network namespace with its
own 127.0.0.1).  The wheels are fetched with ``pip download`` (cached by pip).
"""

from __future__ import annotations

import json
import re

import pytest

import needs

from .test_services_sandbox import Services, free_port

EXPR = """\
let pkgs = import <pynix/pkgs> { }; in {
  env = pkgs.python3.withPackages (ps: [ ps.flask ps.psycopg2 ps.requests ]);
  inherit (pkgs) python3 bash coreutils curl;
}
"""
NAMES = ("env", "python3", "bash", "coreutils", "curl")
# the packages of the env: the chosen ones and their dependencies
CLOSURE = ("flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click", "blinker",
           "psycopg2-binary", "requests", "urllib3", "idna", "charset-normalizer", "certifi")


@pytest.fixture(scope="session")
def pyenv(tmp_path_factory: pytest.TempPathFactory) -> Services:
    """One chroot store: the env (and curl) are built once."""
    needs.tool("apt-get")
    base = tmp_path_factory.mktemp("python-packages")
    s = Services(base / "root", base / "work", {})
    s.work.mkdir()
    (s.work / "default.nix").write_text(EXPR)
    rc, out, err = s.pynix("build", "--json", "--no-link", "-j", "8", "-f", "default.nix",
                           *NAMES)  # fmt: skip
    text = err.decode(errors="replace")
    if rc != 0 and any(
        m in text for m in ("Temporary failure", "Could not resolve", "Network is unreachable")
    ):
        needs.unavailable("the Debian archive or the Python package index is unreachable: "
                          + text[-500:])
    assert rc == 0, text[-4000:]
    paths = {}
    for name in NAMES:
        rc, o, e = s.pynix("eval", "--raw", "-f", "default.nix", f"{name}.outPath")
        assert rc == 0, e.decode(errors="replace")
        paths[name] = o.decode()
    built = {entry["outputs"]["out"] for entry in json.loads(out)}
    assert built == set(paths.values())
    s.out.update(paths)
    return s


def test_package_set_attributes(pyenv: Services) -> None:
    rc, out, err = pyenv.pynix("eval", "--json", "-f", "default.nix", "--apply", """e: {
      pkgs = map (p: p.pname) e.env.pythonPackages;
      flaskDeps = map (p: p.pname) e.python3.pkgs.flask.pythonDeps;
      psycopg2 = e.python3.pkgs.psycopg2.importName;
    }""")  # fmt: skip
    assert rc == 0, err.decode(errors="replace")
    info = json.loads(out)
    assert sorted(info["pkgs"]) == sorted(CLOSURE)
    assert sorted(info["flaskDeps"]) == ["blinker", "click", "itsdangerous", "jinja2", "werkzeug"]
    assert info["psycopg2"] == "psycopg2"


def test_env_closure(pyenv: Services) -> None:
    env = pyenv.out["env"]
    closure = pyenv.closure([env])
    # the base python3 and one store path per package; no wheel or fetch in it
    for name in CLOSURE:
        assert any(re.search(rf"-python3\.11-{re.escape(name)}-[0-9]", p) for p in closure), name
    assert pyenv.out["python3"] in closure
    assert not [p for p in closure if p.endswith(".whl") or p.endswith("-wheel")]
    # the interpreter is a real copy in the env (sys.prefix is the env)
    assert not pyenv.real(f"{env}/bin/python3.11").is_symlink()
    size = pyenv.closure_size(env)
    print(f"closure of {env}: {len(closure)} paths, {size / 2**20:.1f} MiB")
    assert size < 400 * 2**20


APP = """
import sys
from flask import Flask, jsonify

app = Flask(__name__)

@app.route("/hello/<name>")
def hello(name):
    return jsonify(greeting=f"hello {name}", prefix=sys.prefix)

app.run(host="127.0.0.1", port=int(sys.argv[1]))
"""

CLIENT = """
import sys
import time

import requests

url = f"http://127.0.0.1:{sys.argv[1]}/hello/store"
for _ in range(100):
    try:
        r = requests.get(url, timeout=5)
        break
    except requests.ConnectionError:
        time.sleep(0.1)
else:
    raise SystemExit("no answer from " + url)
print("requests", r.status_code, r.json()["greeting"], r.json()["prefix"])
"""


def test_flask_app_answers_requests(pyenv: Services) -> None:
    env = pyenv.out["env"]
    port = free_port()
    proc = pyenv.sandbox(["env", "curl"], f"""
cat > /tmp/app.py <<'PYAPP'
{APP}
PYAPP
cat > /tmp/client.py <<'PYCLIENT'
{CLIENT}
PYCLIENT
timeout 60 python3 /tmp/app.py {port} > /tmp/server.log 2>&1 &
server=$!
python3 /tmp/client.py {port}
echo "curl $(curl -fsS http://127.0.0.1:{port}/hello/curl)"
kill $server
wait $server || true
cat /tmp/server.log >&2
echo "version $(python3 -m flask --version | tr '\\n' ' ')"
echo "script $(flask --version | head -1)"
""")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert f"requests 200 hello store {env}" in lines, proc.stdout
    curl = [ln for ln in lines if ln.startswith("curl ")]
    assert curl and json.loads(curl[0][5:])["greeting"] == "hello curl"
    assert 'GET /hello/store HTTP/1.1" 200' in proc.stderr
    version = next(ln for ln in lines if ln.startswith("version "))
    assert "Python 3.11" in version and "Flask 3.0.3" in version and "Werkzeug 3.0.6" in version
    assert "Python 3.11" in next(ln for ln in lines if ln.startswith("script "))


CHECKS = """
import sys
import psycopg2
import psycopg2.extensions
import markupsafe._speedups
import charset_normalizer
print("libpq", psycopg2.__libpq_version__)
print("psycopg2", psycopg2.__version__)
print("prefix", sys.prefix)
print("speedups", markupsafe._speedups.__file__)
print("detect", charset_normalizer.from_bytes("h\\u00e9llo w\\u00f6rld".encode()).best().encoding)
try:
    psycopg2.connect("host=127.0.0.1 port=1 dbname=x connect_timeout=2")
except psycopg2.OperationalError as e:
    print("connect-error", type(e).__name__)
try:
    import yaml  # noqa: F401
except ImportError:
    print("yaml missing")
"""


def test_psycopg2_and_isolation(pyenv: Services) -> None:
    env = pyenv.out["env"]
    python3 = pyenv.out["python3"]
    proc = pyenv.sandbox(["env"], f"""
cat > /tmp/checks.py <<'PYCHECKS'
{CHECKS}
PYCHECKS
python3 /tmp/checks.py
if {python3}/bin/python3 -c 'import flask' 2>/dev/null; then echo "base has flask"; fi
{python3}/bin/python3 -c 'import sys; print("base", sys.prefix)'
""")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    libpq = int(next(ln for ln in lines if ln.startswith("libpq ")).split()[1])
    assert libpq >= 100000
    assert f"prefix {env}" in lines
    assert [ln for ln in lines if ln.startswith("psycopg2 2.9.9")]
    assert f"speedups {env}/lib/python3.11/site-packages/markupsafe/_speedups" in proc.stdout
    assert "detect utf_8" in lines
    assert "connect-error OperationalError" in lines
    assert "yaml missing" in lines
    assert "base has flask" not in lines
    assert f"base {python3}" in lines
