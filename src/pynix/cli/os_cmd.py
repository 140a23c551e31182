"""``pynix os``: build a system configuration and switch a machine to it."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from .common import UsageError
from .nixcmd import usage_error

if TYPE_CHECKING:
    from ..os.machine import Machine

HELP = """\
Usage: pynix os ACTION [OPTION...]

Build a system from a configuration.nix and switch a machine to it (like
nixos-rebuild).

Actions:
  build          build the system; ./result links to it
  switch         build, add a generation to the system profile, activate it now
  boot           build and add a generation, without activating it
  test           build and activate, without adding a generation
  dry-activate   build and print what a switch would do to the services
  rollback       switch to the generation before the current one
  generations [--json]
                 list the generations of the system profile
  delete-generations old | N... | Nd | +N
                 delete generations (never the current one); then
                 'pynix store gc --store URL' frees their store paths
  diff GEN1 GEN2 packages of the two systems' sw added, removed or changed, and the
                 closure sizes (GEN: a number, current, running, or a store path)
  option PATH    an option's type, description, default, value and definitions
  status [--json]
                 the machine's services and their states
  halt           stop the machine's services and its service manager
  run [--user USER] -- COMMAND [ARG...]
                 run a command inside the machine (its /etc, /run, /var and store;
                 PATH starts with /run/current-system/sw/bin), as USER of the
                 machine's /etc/passwd (default: root)

Options:
  -f FILE, --file FILE   the configuration (default: ROOT/etc/pynix/configuration.nix)
  --root DIR             manage the machine rooted at DIR (default: /); its store is
                         local?root=DIR, its profile DIR/nix/var/nix/profiles/system
  --store URL            the store to use instead
  --system PATH          switch to an already built system (store path), no evaluation
  --no-rollback-on-failure
                         leave the new configuration in place when its services fail
  --show-trace, -L, -I PATH, --option NAME VALUE, -j N, --cores N
                         passed to the evaluator and builder

Exit status: 0 success, 1 error (nothing changed when evaluation or building
failed), 2 the activation script failed, 4 some unit failed (the previous
configuration was put back).
"""

BUILD_ACTIONS = ("build", "switch", "boot", "test", "dry-activate")
ACTIONS = (*BUILD_ACTIONS, "rollback", "generations", "list-generations",
           "delete-generations", "diff", "option", "status", "halt", "run")  # fmt: skip


@dataclass
class Options:
    action: str = ""
    file: str | None = None
    root: str | None = None
    store: str | None = None
    system: str | None = None
    json: bool = False
    rollback_on_failure: bool = True
    passthrough: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    help: bool = False
    user: str | None = None


def parse_args(argv: list[str]) -> Options:
    o = Options()
    i = 0

    def value() -> str:
        if i + 1 >= len(argv):
            raise UsageError(f"flag '{argv[i]}' requires 1 argument")
        return argv[i + 1]

    while i < len(argv):
        a = argv[i]
        if a in ("--help", "-h"):
            o.help = True
        elif a in ("-f", "--file"):
            o.file = value()
            i += 1
        elif a == "--root":
            o.root = value()
            i += 1
        elif a == "--store":
            o.store = value()
            i += 1
        elif a == "--system":
            o.system = value()
            i += 1
        elif a == "--user" or a == "-u":
            o.user = value()
            i += 1
        elif a == "--" and o.action == "run":
            o.args += argv[i + 1 :]
            break
        elif a == "--json":
            o.json = True
        elif a == "--no-rollback-on-failure":
            o.rollback_on_failure = False
        elif a in ("--show-trace", "-L", "--print-build-logs", "-K", "--keep-failed"):
            o.passthrough.append(a)
        elif a in ("-I", "-j", "--max-jobs", "--cores", "--include"):
            o.passthrough += [a, value()]
            i += 1
        elif a == "--option":
            if i + 2 >= len(argv):
                raise UsageError("flag '--option' requires 2 arguments")
            o.passthrough += argv[i : i + 3]
            i += 2
        elif a.startswith("-") and not (o.action == "delete-generations" and a[1:].isdigit()):
            raise UsageError(f"unrecognised flag '{a}'")
        elif not o.action:
            o.action = a
        else:
            o.args.append(a)
        i += 1
    if o.help:
        return o
    if not o.action:
        raise UsageError("no action given (switch, build, rollback, generations...)")
    if o.action not in ACTIONS:
        raise UsageError(f"unknown action '{o.action}'")
    if o.action in BUILD_ACTIONS and o.args:
        raise UsageError(f"unexpected argument '{o.args[0]}'")
    return o


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    try:
        o = parse_args(argv)
    except UsageError as e:
        return usage_error(stderr, "pynix os", str(e))
    if o.help:
        stdout.write(HELP.encode())
        return 0
    from ..os.switch import SwitchError
    from ..os.system import BuildFailed

    try:
        return _run(o, stdin, stdout, stderr, env, cwd or os.getcwd())
    except (SwitchError, BuildFailed) as e:
        stderr.write(f"error: {e}\n".encode())
        return 1
    except UsageError as e:
        return usage_error(stderr, "pynix os", str(e))
    except Exception as e:  # a failure of the machine (namespace, supervisord, store)
        from ..os.managers.supervisor import SupervisorError
        from ..os.namespace import NamespaceError
        from ..profiles import ProfileError
        from ..store.api import StoreError

        if isinstance(e, (SupervisorError, NamespaceError, ProfileError, StoreError, OSError)):
            stderr.write(f"error: {e}\n".encode())
            return 1
        raise


def _run(o: Options, stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes],
         env: Mapping[str, str] | None, cwd: str) -> int:
    from ..os import system
    from ..os.machine import Machine

    root = os.path.join(cwd, o.root) if o.root else None
    machine = Machine.open(root, o.store)
    a = o.action
    if a in BUILD_ACTIONS:
        if o.system is not None:
            toplevel = o.system
        else:
            config = (os.path.join(cwd, o.file) if o.file
                      else machine.path("/etc/pynix/configuration.nix"))
            toplevel = _build_system(machine, config, stderr, o.passthrough, env, cwd)
        if a == "build":
            link = os.path.join(cwd, "result")
            from ..store.local import LocalStore

            if isinstance(machine.store, LocalStore):
                machine.store.add_perm_root(toplevel, link)
            stdout.write(toplevel.encode() + b"\n")
            return 0
        return system.activate(machine, toplevel, a, stderr,
                               rollback_on_failure=o.rollback_on_failure)
    if a == "rollback":
        return system.rollback(machine, stderr)
    if a in ("generations", "list-generations"):
        gens = system.generations(machine)
        if o.json:
            stdout.write(json.dumps([g.json() for g in gens]).encode() + b"\n")
        else:
            stdout.write(system.format_generations(gens).encode())
        return 0
    if a == "delete-generations":
        if not o.args:
            raise UsageError("delete-generations needs old, N..., Nd or +N")
        for n in system.delete_generations(machine, o.args):
            stderr.write(f"removing generation {n}\n".encode())
        return 0
    if a == "diff":
        if len(o.args) != 2:
            raise UsageError("diff needs two generations")
        ga, gb = (system.resolve_generation(machine, x) for x in o.args)
        d = system.diff(machine, ga, gb)
        if o.json:
            stdout.write(json.dumps({
                "from": ga, "to": gb, "added": d.added, "removed": d.removed,
                "changed": d.changed, "closureSize": [d.size_a, d.size_b],
                "swClosureSize": [d.sw_size_a, d.sw_size_b]}).encode() + b"\n")
        else:
            stdout.write(system.format_diff(d, ga, gb).encode())
        return 0
    if a == "option":
        if len(o.args) != 1:
            raise UsageError("option needs one option path, e.g. services.nginx.enable")
        config = (os.path.join(cwd, o.file) if o.file
                  else machine.path("/etc/pynix/configuration.nix"))
        return _option(config, o.args[0], o, stdout, stderr, env, cwd)
    if a == "status":
        from ..os.managers import choose_manager

        entries = choose_manager(machine, create=False).status()
        if o.json:
            stdout.write(json.dumps(entries).encode() + b"\n")
        else:
            for e in entries:
                pid = f" pid {e['pid']}" if e.get("pid") else ""
                more = "".join(f", {k} {e[k]}" for k in ("next", "last", "error") if e.get(k))
                stdout.write(f"{e['unit']:<40} {e['state']}{pid}{more}\n".encode())
        return 0
    if a == "run":
        return _run_in_machine(machine, o, stdin, stdout, stderr)
    if a == "halt":
        if system.halt(machine, stderr):
            stderr.write(f"stopped the services of the machine '{machine.root}'\n".encode())
        else:
            stderr.write(f"no service manager is running for the machine '{machine.root}'\n"
                         .encode())
        return 0
    raise UsageError(f"unknown action '{a}'")


def _fileno(stream: IO[bytes]) -> int | None:
    try:
        return stream.fileno()
    except (OSError, AttributeError, ValueError):
        return None


def _run_in_machine(machine: Machine, o: Options, stdin: IO[bytes], stdout: IO[bytes],
                    stderr: IO[bytes]) -> int:
    import subprocess
    import sys

    if not o.args:
        raise UsageError("run needs a command: pynix os run [--user USER] -- COMMAND...")
    cmd = [sys.executable, "-m", "pynix.os.launcher", "run", *machine.namespace_args()]
    cmd += ["--user", o.user or "root", "--", *o.args]
    in_fd, out_fd, err_fd = _fileno(stdin), _fileno(stdout), _fileno(stderr)
    stdout.flush()
    stderr.flush()
    proc = subprocess.run(cmd, stdin=in_fd if in_fd is not None else subprocess.DEVNULL,
                          stdout=out_fd if out_fd is not None else subprocess.PIPE,
                          stderr=err_fd if err_fd is not None else subprocess.PIPE,
                          check=False)
    if out_fd is None:
        stdout.write(proc.stdout)
    if err_fd is None:
        stderr.write(proc.stderr)
    return 128 - proc.returncode if proc.returncode < 0 else proc.returncode


def _option(config: str, path: str, o: Options, stdout: IO[bytes], stderr: IO[bytes],
            env: Mapping[str, str] | None, cwd: str) -> int:
    """Evaluate what the module system knows about one option and print it."""
    from ..os.options import format_option, option_expression, split_option_path
    from . import eval_cmd

    if not os.path.isfile(config):
        stderr.write(f"error: the configuration file '{config}' does not exist\n".encode())
        return 1
    names = split_option_path(path)
    if not names:
        stderr.write(b"error: an option path is needed\n")
        return 1
    out = io.BytesIO()
    argv = [*[a for a in o.passthrough if a not in ("-L", "--print-build-logs", "-K")],
            "--json", "--expr", option_expression(config, names)]
    rc = eval_cmd.main_impl(argv, io.BytesIO(), out, stderr, env, cwd)
    if rc != 0:
        return rc
    info = json.loads(out.getvalue())
    missing = info.get("kind") == "missing"
    if o.json:
        stdout.write(json.dumps(info).encode() + b"\n")
    else:
        (stderr if missing else stdout).write(format_option(path, info).encode())
    return 1 if missing else 0


def _build_system(machine: Machine, config_file: str, stderr: IO[bytes],
                  extra_args: list[str], env: Mapping[str, str] | None, cwd: str) -> str:
    """Evaluate and build ``config.system.build.toplevel``; its store path."""
    from ..os.switch import SwitchError
    from ..os.system import BuildFailed, config_expression
    from . import build_cmd

    if not os.path.isfile(config_file):
        raise SwitchError(f"the configuration file '{config_file}' does not exist")
    out = io.BytesIO()
    argv = ["--store", machine.store_url, "--no-link", "--print-out-paths", *extra_args,
            "--expr", config_expression(config_file, "config.system.build.toplevel")]  # fmt: skip
    rc = build_cmd.main_impl(argv, io.BytesIO(), out, stderr, env, cwd)
    if rc != 0:
        raise BuildFailed(f"building the system configuration '{config_file}' failed; "
                          "nothing was changed")
    paths = out.getvalue().decode().split()
    if not paths:
        raise BuildFailed("the build printed no output path")
    return paths[-1]


def run(argv: list[str], env: Mapping[str, str] | None = None,
        cwd: str | None = None) -> tuple[int, bytes, bytes]:
    out, err = io.BytesIO(), io.BytesIO()
    rc = main_impl(argv, io.BytesIO(), out, err, env, cwd)
    return rc, out.getvalue(), err.getvalue()
