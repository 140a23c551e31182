"""Access to the Nix 2.8 test vectors and the fixture trees they describe."""

from __future__ import annotations

import base64
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).parents[1] / "data" / "vectors"


@cache
def load(name: str) -> Any:
    with open(VECTORS / name, encoding="utf-8") as f:
        return json.load(f)


def fixture_nodes() -> dict[str, Any]:
    nodes: dict[str, Any] = load("fixtures.json")["fixtures"]
    return nodes


def build_node(node: dict[str, Any], path: Path) -> None:
    kind = node["type"]
    if kind == "regular":
        path.write_bytes(base64.b64decode(node["contents_b64"]))
        path.chmod(0o755 if node["executable"] else 0o644)
    elif kind == "symlink":
        os.symlink(node["target"], path)
    else:
        path.mkdir()
        path.chmod(0o755)
        for name, child in node["entries"].items():
            build_node(child, path / name)


def build_fixtures(root: Path) -> None:
    for name, node in fixture_nodes().items():
        build_node(node, root / name)
