"""What the evaluation commands share: a session, result printing, error reporting."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import IO, Any

from ..lang.attrpath import auto_call, find_along_attr_path
from ..lang.errors import NixError, ThrownError, position_from_traceback, render
from ..lang.evaluator import Evaluator
from ..lang.printer import print_value
from ..lang.runtime import deep_force
from ..lang.stack import on_big_stack
from ..lang.syntax import Node
from ..lang.values import from_text, to_bytes, to_text


class UsageError(Exception):
    pass


class EvalSession:
    def __init__(
        self,
        *,
        env: Mapping[str, str] | None,
        cwd: str | None,
        stderr: IO[bytes],
        search_path: list[str],
        eager: bool,
        trace_verbose: bool = False,
        store: Any = None,
    ) -> None:
        self.cwd = cwd or os.getcwd()
        self.env = dict(os.environ if env is None else env)
        self.stderr = stderr
        self._warned_root = False
        self._root_count = 0
        self.evaluator = Evaluator(
            search_path=search_path,
            env=self.env,
            cwd=self.cwd,
            stderr=stderr,
            eager_containers=eager,
            trace_verbose=trace_verbose,
            store=store,
        )

    def resolve_file_arg(self, arg: str) -> str:
        """A file argument: ``<name>`` on the search path, or a path relative to cwd."""
        ev = self.evaluator
        if arg.startswith("<") and arg.endswith(">"):
            found = ev.find_file(ev.search_path, from_text(arg[1:-1]))
            if found is None:
                raise NixError(
                    f"file '{arg[1:-1]}' was not found in the Nix search path "
                    "(add it using $NIX_PATH or -I)"
                )
            return found
        path = arg if arg.startswith("/") else os.path.join(self.cwd, arg)
        return from_text(os.path.normpath(path))

    def print_parsed(self, node: Node, out: IO[bytes], file: str) -> None:
        from ..lang.compiler import compile_node

        ev = self.evaluator
        # binding errors (undefined variables) are parse errors too
        compile_node(node, file, frozenset(ev.base), file)
        from ..lang.show import show

        out.write(to_bytes(show(node)) + b"\n")

    def print_result(
        self,
        root: Any,
        attr_path: str,
        auto_args: dict[str, Any],
        strict: bool,
        output: str,
        location: bool,
        out: IO[bytes],
    ) -> None:
        v = find_along_attr_path(root, attr_path, auto_args)
        if auto_args:
            v = auto_call(v, auto_args)
        if output == "json":
            from ..lang.tojson import to_json

            chunks: list[str] = []
            try:
                to_json(v, strict, set(), chunks)
            finally:
                # Nix 2.8 writes no newline, and leaves partial output on an error
                out.write(to_bytes("".join(chunks)))
        elif output == "xml":
            from ..lang import attrpos
            from ..lang.formats import to_xml

            chunks = []
            try:
                to_xml(v, strict, location, attr_pos=attrpos.lookup, out=chunks)
            finally:
                # on an error Nix has already written (and closed) part of the document
                out.write(to_bytes("".join(chunks)))
        else:
            if strict:
                deep_force(v)
            out.write(to_bytes(print_value(v)) + b"\n")
        out.flush()

    def instantiate(self, root: Any, attr_paths: list[str], auto_args: dict[str, Any],
                    out: IO[bytes], *, add_root: str | None = None) -> None:
        """Write the derivations at ``attr_paths`` to the store and print their
        paths as ``nix-instantiate`` does: ``<drv>`` or ``<drv>!<output>`` when the
        selected output is not ``out``.  With ``add_root`` each is registered as a
        garbage collector root (``ROOT``, ``ROOT-2``...) and the root is printed."""
        from .derivations import get_derivations

        real_store = getattr(self.evaluator.store, "store", None)
        for attr_path in attr_paths:
            v = find_along_attr_path(root, attr_path, auto_args)
            for found in get_derivations(v, auto_args):
                shown = found.drv_path
                if add_root is None:
                    if not self._warned_root:
                        self._warned_root = True
                        self.stderr.write(b"warning: you did not specify '--add-root'; the "
                                          b"result might be removed by the garbage collector\n")
                else:
                    self._root_count += 1
                    link = os.path.join(self.cwd, add_root)
                    if self._root_count > 1:
                        link += f"-{self._root_count}"
                    add_perm_root = getattr(real_store, "add_perm_root", None)
                    if add_perm_root is None:
                        raise NixError("--add-root needs a local store")
                    shown = add_perm_root(found.drv_path, link)
                if found.output_name != "out":
                    shown += "!" + found.output_name
                out.write(shown.encode("utf-8", "surrogateescape") + b"\n")
        out.flush()


def report_error(err: NixError, stderr: IO[bytes], show_trace: bool) -> None:
    if err.pos is None and not isinstance(err, ThrownError):
        err.pos = position_from_traceback(err)
    text = render(err, show_trace)
    if err.trace and not show_trace:
        text += "\n(use '--show-trace' to show detailed location information)"
    stderr.write(text.encode("utf-8", "replace") + b"\n")


def run_guarded(body: Callable[[], int], stderr: IO[bytes], show_trace: bool,
                stdout: IO[bytes] | None = None) -> int:
    """Run a command body on the big stack; every failure becomes an ``error:`` line."""
    try:
        return on_big_stack(body)
    except NixError as e:
        if stdout is not None:
            stdout.flush()
        report_error(e, stderr, show_trace)
        return 1
    except RecursionError:
        stderr.write(b"error: stack overflow (possible infinite recursion)\n")
        return 1
    except MemoryError:
        stderr.write(b"error: out of memory\n")
        return 1
    except KeyboardInterrupt:
        stderr.write(b"error: interrupted by the user\n")
        return 130
    except Exception as e:  # a bug in pynix: say so without a Python traceback
        import traceback

        where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
        loc = f" ({os.path.basename(where.filename)}:{where.lineno})" if where else ""
        msg = to_text(str(e)) if isinstance(e, str) else str(e)
        stderr.write(
            f"error: internal error in pynix: {type(e).__name__}: {msg}{loc}\n".encode(
                "utf-8", "replace")
        )
        return 1


# -- shared by the commands in the style of `nix` (pynix eval, pynix repl) ----------------


class EvalFlags:
    """The evaluation options that every ``nix``-style command accepts."""

    # flags of `nix` that change nothing here; the value is how many arguments they take
    IGNORED: dict[str, int] = {
        "--extra-experimental-features": 1, "--experimental-features": 1, "--option": 2,
        "--eval-store": 1, "--store": 1, "--read-only": 0, "--quiet": 0, "--verbose": 0,
        "-v": 0, "-L": 0, "--print-build-logs": 0, "--no-warn-dirty": 0, "--strict": 0,
        "-j": 1, "--max-jobs": 1, "--cores": 1, "-K": 0, "--keep-failed": 0, "-k": 0,
        "--keep-going": 0,
    }

    def __init__(self) -> None:
        self.auto_args: list[tuple[str, str, bool]] = []  # (name, text, is_expr)
        self.search_path: list[str] = []
        self.show_trace = False
        self.impure = False
        self.trace_verbose = False

    def take(self, argv: list[str], i: int) -> int:
        """Consume the flag at ``argv[i]``: the index after it, or ``i`` if it is not ours."""
        a = argv[i]

        def need(k: int) -> list[str]:
            if i + k >= len(argv):
                raise UsageError(f"flag '{a}' requires {k} argument(s)")
            return argv[i + 1 : i + 1 + k]

        if a == "--arg" or a == "--argstr":
            name, text = need(2)
            self.auto_args.append((name, text, a == "--arg"))
            return i + 3
        if a in ("-I", "--include"):
            self.search_path.append(need(1)[0])
            return i + 2
        if a.startswith("-I") and len(a) > 2:
            self.search_path.append(a[2:])
            return i + 1
        if a == "--show-trace":
            self.show_trace = True
            return i + 1
        if a == "--impure":
            self.impure = True
            return i + 1
        if a == "--trace-verbose":
            self.trace_verbose = True
            return i + 1
        if a in self.IGNORED:
            return i + 1 + len(need(self.IGNORED[a]))
        return i

    def session(self, env: Mapping[str, str] | None, cwd: str | None, stderr: IO[bytes],
                eager: bool) -> EvalSession:
        return EvalSession(env=env, cwd=cwd, stderr=stderr, search_path=self.search_path,
                           eager=eager, trace_verbose=self.trace_verbose)

    def auto_arg_values(self, session: EvalSession) -> dict[str, Any]:
        """The ``--arg``/``--argstr`` values (``--arg`` expressions are evaluated lazily)."""
        from ..lang.values import Thunk

        ev = session.evaluator
        out: dict[str, Any] = {}
        for name, text, is_expr in self.auto_args:
            if is_expr:
                out[from_text(name)] = Thunk(
                    lambda text=text: ev.eval_string(from_text(text))
                )
            else:
                out[from_text(name)] = from_text(text)
        return out

