"""The no-fork launcher: ``python -m pynix.os.launcher ACTION --root DIR --store-dir S ...``.

``start --unit NAME``: what supervisord runs for a service.  It enters the machine
namespace, reads the unit from ``/etc/systemd/system``, creates its state,
runtime, cache and logs directories owned by its user, builds its environment,
runs ``ExecStartPre`` commands, starts a detached helper for ``ExecStartPost``,
changes to ``WorkingDirectory``, drops to ``User``/``Group`` and finally
``exec``s ``ExecStart`` in its own PID, so supervisord's signals reach the
service itself.  The helper (forked twice and the intermediate child reaped
before the ``exec``: the service never sees a child it did not make) waits
until the ``exec`` has happened (a close-on-exec pipe reaches end-of-file),
runs the ``ExecStartPost`` commands with ``MAINPID`` and writes
``/run/pynix/units/NAME.started``; the switcher waits for that file.
``Type=oneshot`` services run their commands to the end instead.  A service
that socket units activate receives their listening sockets from the
machine's activator daemon (:mod:`pynix.os.sockets`) just before the
``exec``: at fd 3.., with ``LISTEN_FDS``, ``LISTEN_PID`` (its own PID, which
the ``exec`` keeps) and ``LISTEN_FDNAMES``.

``reload --unit NAME --mainpid PID``: ``ExecReload`` (with ``MAINPID``) or SIGHUP.
``stop``/``stop-post --unit NAME --mainpid PID [--unit-dir D]``: ``ExecStop`` /
``ExecStopPost`` (and removal of ``RuntimeDirectory``).
``run -- COMMAND...``: run a command in the machine namespace (activation).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .accounts import AccountError, Credentials, lookup
from .cmdline import Command, CommandLineError
from .namespace import NamespaceError, enter
from .privileges import PrivilegeError, become, parse_capabilities
from .service import ServiceError, ServiceSpec
from .sockets import SocketError, install_fds, receive_sockets
from .units import UnitError, read_unit

UNIT_DIR = "/etc/systemd/system"
MARKER_DIR = "/run/pynix/units"


class LaunchError(Exception):
    pass


@dataclass(frozen=True)
class Identity:
    """Who the unit's commands run as: its user (None: root) and capabilities."""

    creds: Credentials | None
    ambient: tuple[int, ...] = ()
    no_new_privileges: bool = False

    def enter(self) -> None:
        become(self.creds, list(self.ambient), self.no_new_privileges)


ROOT = Identity(None)


def log(unit: str, message: str) -> None:
    sys.stderr.write(f"pynix-launcher[{unit}]: {message}\n")
    sys.stderr.flush()


def marker_path(unit: str) -> str:
    return os.path.join(MARKER_DIR, unit + ".started")


def write_marker(unit: str, data: dict[str, object]) -> None:
    os.makedirs(MARKER_DIR, exist_ok=True)
    tmp = marker_path(unit) + f".tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.rename(tmp, marker_path(unit))


def load_spec(unit: str, unit_dir: str) -> ServiceSpec:
    u = read_unit(unit_dir, unit)
    if u is None:
        raise LaunchError(f"unit file '{unit_dir}/{unit}' does not exist")
    return ServiceSpec(u)


def credentials(spec: ServiceSpec) -> Credentials:
    try:
        return lookup(spec.user, spec.group, spec.supplementary_groups)
    except AccountError as e:
        raise LaunchError(f"{e} (User=/Group= of {spec.name})") from None


def identity(spec: ServiceSpec, creds: Credentials) -> Identity:
    try:
        ambient = parse_capabilities(spec.unit.words("Service", "AmbientCapabilities"))
    except PrivilegeError as e:
        raise LaunchError(f"AmbientCapabilities= of {spec.name}: {e}") from None
    return Identity(creds if spec.user else None, tuple(ambient),
                    spec.unit.get_bool("Service", "NoNewPrivileges"))


def make_directories(spec: ServiceSpec, creds: Credentials) -> None:
    for _, dirs in spec.directories():
        for d in dirs:
            os.makedirs(d.path, exist_ok=True)
            os.chown(d.path, creds.uid if spec.user else 0, creds.gid if spec.user else 0)
            os.chmod(d.path, d.mode)


def resolve_executable(cmd: Command, env: dict[str, str]) -> str:
    exe = cmd.executable
    if os.path.isabs(exe):
        return exe
    found = shutil.which(exe, path=env.get("PATH", "") + ":/run/current-system/sw/bin")
    if found is None:
        raise LaunchError(f"executable '{exe}' not found (command: {cmd.text})")
    return found


def run_command(cmd: Command, env: dict[str, str], cwd: str | None,
                who: Identity, timeout: float) -> int:
    """Run one command to its end; its exit status (128+N when killed by signal N)."""
    exe = resolve_executable(cmd, env)
    as_who = ROOT if cmd.privileged else who
    try:
        proc = subprocess.Popen(
            cmd.argv, executable=exe, env=env, cwd=cwd or "/", stdin=subprocess.DEVNULL,
            preexec_fn=as_who.enter)
    except OSError as e:
        raise LaunchError(f"cannot run '{cmd.text}': {e.strerror}") from None
    except subprocess.SubprocessError as e:  # becoming the user failed
        raise LaunchError(f"cannot run '{cmd.text}' as the unit's user: {e}") from None
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise LaunchError(f"'{cmd.text}' timed out after {timeout:g} s") from None
    return 128 - rc if rc < 0 else rc


def run_phase(spec: ServiceSpec, key: str, env: dict[str, str], cwd: str | None,
              who: Identity) -> None:
    for cmd in spec.commands(key, env):
        rc = run_command(cmd, env, cwd, who, spec.timeout_start)
        if rc != 0 and not cmd.ignore_failure:
            raise LaunchError(f"{key} command '{cmd.text}' failed with exit code {rc}")


def working_directory(spec: ServiceSpec, creds: Credentials) -> str | None:
    wd, optional = spec.working_directory
    if wd == "~":
        wd = creds.home
    if wd is not None and not os.path.isdir(wd):
        if optional:
            return None
        raise LaunchError(f"WorkingDirectory '{wd}' does not exist")
    return wd


def start(unit: str, unit_dir: str) -> None:
    """Start the service; returns only on failure (by raising)."""
    # the switcher removes the marker before it starts a unit: one left behind
    # means supervisord is restarting a service that died (Restart=), which
    # systemd does after RestartSec=
    restarting = os.path.exists(marker_path(unit))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(marker_path(unit))
    spec = load_spec(unit, unit_dir)
    if restarting:
        time.sleep(min(spec.restart_sec, 60))
    creds = credentials(spec)
    os.umask(spec.umask)
    make_directories(spec, creds)
    env = spec.environment(creds)
    cwd = working_directory(spec, creds)
    user = identity(spec, creds)
    run_phase(spec, "ExecStartPre", env, cwd, user)
    mains = spec.commands("ExecStart", env)
    if not mains:
        raise LaunchError("the unit has no ExecStart=")
    if spec.type == "oneshot":
        for cmd in mains:
            rc = run_command(cmd, env, cwd, user, spec.timeout_start)
            if rc != 0 and not cmd.ignore_failure:
                raise LaunchError(f"ExecStart command '{cmd.text}' failed with exit code {rc}")
        run_phase(spec, "ExecStartPost", dict(env), cwd, user)
        write_marker(unit, {"pid": os.getpid(), "status": "ok"})
        sys.exit(0)
    if len(mains) > 1:
        raise LaunchError(f"Type={spec.type} allows only one ExecStart=")
    main = mains[0]
    exe = resolve_executable(main, env)
    posts = spec.unit.values("Service", "ExecStartPost")
    main_pid = os.getpid()
    # before anything else is opened: the sockets go to fd 3..
    fds, names = receive_sockets(unit, main_pid, spec.unit.words("Service", "Sockets"))
    if fds:
        install_fds(fds)
        env = dict(env, LISTEN_FDS=str(len(fds)), LISTEN_PID=str(main_pid),
                   LISTEN_FDNAMES=":".join(names))
        log(unit, f"listening sockets from the activator: {', '.join(names)}")
    else:
        for var in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
            env.pop(var, None)
    if posts:
        _post_helper(spec, env, cwd, user, main_pid)
    else:
        write_marker(unit, {"pid": main_pid, "status": "ok"})
    if cwd is not None:
        os.chdir(cwd)
    if not main.privileged:
        try:
            user.enter()
        except PrivilegeError as e:
            raise LaunchError(str(e)) from None
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(exe, main.argv, env)
    except OSError as e:
        raise LaunchError(f"cannot execute '{exe}': {e.strerror}") from None


def _post_helper(spec: ServiceSpec, env: dict[str, str], cwd: str | None,
                 user: Identity, main_pid: int) -> None:
    read_end, write_end = os.pipe()  # both close-on-exec: the exec closes write_end
    first = os.fork()
    if first == 0:
        try:
            os.close(write_end)
            if os.fork() == 0:
                _run_posts(spec, env, cwd, user, main_pid, read_end)
        finally:
            os._exit(0)
    os.close(read_end)
    os.waitpid(first, 0)
    # write_end stays open until the exec (or our exit) closes it


def _run_posts(spec: ServiceSpec, env: dict[str, str], cwd: str | None,
               user: Identity, main_pid: int, ready: int) -> None:
    while os.read(ready, 1):
        pass
    time.sleep(0.05)
    status: dict[str, object] = {"pid": main_pid, "status": "ok"}
    try:
        os.kill(main_pid, 0)
        env = dict(env, MAINPID=str(main_pid))
        run_phase(spec, "ExecStartPost", env, cwd, user)
    except ProcessLookupError:
        status = {"pid": main_pid, "status": "failed", "error": "the main process exited"}
    except (LaunchError, ServiceError, CommandLineError) as e:
        log(spec.name, str(e))
        status = {"pid": main_pid, "status": "failed", "error": str(e)}
    write_marker(spec.name, status)


def reload(unit: str, unit_dir: str, main_pid: int) -> None:
    spec = load_spec(unit, unit_dir)
    creds = credentials(spec)
    env = dict(spec.environment(creds), MAINPID=str(main_pid))
    if not spec.unit.values("Service", "ExecReload"):
        os.kill(main_pid, signal.SIGHUP)
        return
    run_phase(spec, "ExecReload", env, working_directory(spec, creds), identity(spec, creds))


def stop_phase(unit: str, unit_dir: str, main_pid: int | None, key: str) -> None:
    spec = load_spec(unit, unit_dir)
    creds = credentials(spec)
    env = spec.environment(creds)
    if main_pid:
        env["MAINPID"] = str(main_pid)
    with contextlib.suppress(LaunchError):
        run_phase(spec, key, env, working_directory(spec, creds), identity(spec, creds))
    if key == "ExecStopPost" and not spec.unit.get_bool("Service", "RuntimeDirectoryPreserve"):
        for var, dirs in spec.directories():
            if var == "RUNTIME_DIRECTORY":
                for d in dirs:
                    shutil.rmtree(d.path, ignore_errors=True)


def run_as(user: str, command: list[str]) -> None:
    """``exec`` a command as a user of the machine, with a login-like environment."""
    try:
        creds = lookup(user, None, [])
    except AccountError as e:
        raise LaunchError(str(e)) from None
    env = {"PATH": "/run/current-system/sw/bin:/usr/local/bin:/usr/bin:/bin",
           "HOME": creds.home, "USER": creds.name, "LOGNAME": creds.name,
           "SHELL": creds.shell or "/bin/sh"}  # fmt: skip
    for name in ("TERM", "LANG", "TZ"):
        if name in os.environ:
            env[name] = os.environ[name]
    become(creds, [], False)
    os.chdir(creds.home if os.path.isdir(creds.home) else "/")
    os.execvpe(command[0], command, env)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m pynix.os.launcher")
    p.add_argument("action", choices=["start", "reload", "stop", "stop-post", "run"])
    p.add_argument("--root", required=True)
    p.add_argument("--store-dir", required=True)
    p.add_argument("--unit")
    p.add_argument("--unit-dir", default=UNIT_DIR)
    p.add_argument("--mainpid", type=int)
    p.add_argument("--user")
    args = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in args:
        command = args[args.index("--") + 1 :]
        args = args[: args.index("--")]
    a = p.parse_args(args)
    name = a.unit or "activation"
    try:
        enter(a.root, a.store_dir)
        if a.action == "run":
            if not command:
                raise LaunchError("no command to run")
            if a.user is not None:
                run_as(a.user, command)
            os.execvp(command[0], command)
        if not a.unit:
            raise LaunchError("--unit is needed")
        if a.action == "start":
            start(a.unit, a.unit_dir)
        elif a.action == "reload":
            if not a.mainpid:
                raise LaunchError("--mainpid is needed to reload")
            reload(a.unit, a.unit_dir, a.mainpid)
        elif a.action == "stop":
            stop_phase(a.unit, a.unit_dir, a.mainpid, "ExecStop")
        elif a.action == "stop-post":
            stop_phase(a.unit, a.unit_dir, a.mainpid, "ExecStopPost")
    except (LaunchError, NamespaceError, ServiceError, UnitError, CommandLineError,
            PrivilegeError, SocketError, OSError, ValueError) as e:
        log(name, f"failed: {e}")
        if a.unit and a.action == "start":
            with contextlib.suppress(OSError):
                write_marker(a.unit, {"pid": os.getpid(), "status": "failed", "error": str(e)})
        sys.exit(1)


if __name__ == "__main__":
    main()
