"""What the evaluation commands share: a session, result printing, error reporting."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Mapping
from typing import IO, Any

from ..lang.attrpath import auto_call, find_along_attr_path
from ..lang.errors import NixError, render
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
                out.write(to_bytes("".join(chunks)))
            out.write(b"\n")
        elif output == "xml":
            from ..lang.formats import to_xml

            out.write(to_bytes(to_xml(v, strict, location)))
        else:
            if strict:
                deep_force(v)
            out.write(to_bytes(print_value(v)) + b"\n")
        out.flush()

    def instantiate(self, root: Any, attr_paths: list[str], auto_args: dict[str, Any],
                    out: IO[bytes]) -> None:
        raise NixError("instantiating derivations needs the store, which is not available yet")


def report_error(err: NixError, stderr: IO[bytes], show_trace: bool) -> None:
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
        where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
        loc = f" ({os.path.basename(where.filename)}:{where.lineno})" if where else ""
        msg = to_text(str(e)) if isinstance(e, str) else str(e)
        stderr.write(
            f"error: internal error in pynix: {type(e).__name__}: {msg}{loc}\n".encode(
                "utf-8", "replace")
        )
        return 1
