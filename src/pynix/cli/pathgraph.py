"""The reference graph of store paths as Nix's commands show it: topological
order (``-qR``), trees (``--tree``) and Graphviz (``--graph``).

Orders follow Nix exactly: sets of paths are taken sorted by base name, a
topological sort visits them depth first and lists referrers before their
references, and the commands print that list reversed where they want
dependencies first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from ..store.api import Store, StoreError
from .storeopts import CommandError

References = Callable[[str], Iterable[str]]

TREE_CONN = "├───"
TREE_LAST = "└───"
TREE_LINE = "│   "
TREE_NULL = "    "


def store_references(store: Store) -> References:
    def refs(path: str) -> Iterable[str]:
        try:
            return store.query_path_info(path).references
        except StoreError:
            return ()

    return refs


def topo_sort(paths: Iterable[str], references: References) -> list[str]:
    """Referrers before their references (within ``paths``); a cycle is an error."""
    items = set(paths)
    order: list[str] = []
    visited: set[str] = set()
    for root in sorted(items):
        if root in visited:
            continue
        visited.add(root)
        on_stack = {root}
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(references(root))))]
        while stack:
            path, children = stack[-1]
            for child in children:
                if child == path or child not in items:
                    continue
                if child in on_stack:
                    raise CommandError(
                        f"cycle detected in the references of '{path}' from '{child}'"
                    )
                if child in visited:
                    continue
                visited.add(child)
                on_stack.add(child)
                stack.append((child, iter(sorted(references(child)))))
                break
            else:
                stack.pop()
                on_stack.discard(path)
                order.append(path)
    order.reverse()
    return order


def topo_sort_paths(store: Store, paths: Iterable[str]) -> list[str]:
    return topo_sort(paths, store_references(store))


def closure(paths: Iterable[str], references: References) -> set[str]:
    seen: set[str] = set()
    todo = list(paths)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(r for r in references(p) if r not in seen)
    return seen


def tree_lines(roots: Iterable[str], references: References) -> Iterator[str]:
    """``nix-store -q --tree``: each path once, repeats marked ``[...]``; the
    references of a path are shown in topological order, dependencies last."""
    done: set[str] = set()
    for root in roots:
        # (path, first pad, tail pad)
        stack: list[tuple[str, str, str]] = [(root, "", "")]
        while stack:
            path, first, tail = stack.pop()
            if path in done:
                yield f"{first}{path} [...]"
                continue
            done.add(path)
            yield f"{first}{path}"
            refs = set(references(path))
            children = list(reversed(topo_sort(refs, references)))
            entries = []
            for n, child in enumerate(children):
                last = n + 1 == len(children)
                entries.append((child, tail + (TREE_LAST if last else TREE_CONN),
                                tail + (TREE_NULL if last else TREE_LINE)))  # fmt: skip
            stack.extend(reversed(entries))


_COLOURS = ("black", "red", "green", "blue", "magenta", "burlywood")


def _dot_quote(s: str) -> str:
    return '"' + s + '"'


def dot_graph(roots: Iterable[str], references: References) -> str:
    """``nix-store -q --graph``: every path of the closure as a node, an edge from
    each reference to its referrer; edge colours cycle as Nix's do."""
    lines = ["digraph G {"]
    work = set(roots)
    done: set[str] = set()
    colour = 0
    while work:
        path = min(work)
        work.discard(path)
        if path in done:
            continue
        done.add(path)
        base = path.rsplit("/", 1)[-1]
        lines.append(f"{_dot_quote(base)} [label = {_dot_quote(base[33:])}, shape = box, "
                     f'style = filled, fillcolor = "#ff0000"];')  # fmt: skip
        for ref in sorted(references(path)):
            if ref == path:
                continue
            work.add(ref)
            ref_base = ref.rsplit("/", 1)[-1]
            lines.append(f"{_dot_quote(ref_base)} -> {_dot_quote(base)} "
                         f"[color = {_dot_quote(_COLOURS[colour % len(_COLOURS)])}];")  # fmt: skip
            colour += 1
    lines.append("}")
    return "".join(line + "\n" for line in lines)
