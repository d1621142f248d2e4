"""The shape of the code: which package may import which, so it cannot silently decay.

Run alone to see the import graph: `python -m pytest tests/test_architecture.py -q`.
Each package lists the packages of ours it may import; anything else (a back-edge, or
aiohttp outside proxy/) fails here with the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# `problems` (the one error base) is a leaf every package but config may import.
ALLOWED: dict[str, set[str]] = {
    "problems": set(),
    "config": set(),
    "resize": {"problems"},
    "layouts": {"problems", "config", "resize"},
    "storage": {"problems", "config"},
    "telemetry": {"storage"},
    "rendering": {"problems", "config", "resize", "layouts", "storage", "telemetry"},
    "bulk": {"problems", "config", "resize", "layouts", "storage", "telemetry", "rendering"},
    "proxy": {"problems", "config", "resize", "layouts", "storage", "telemetry", "rendering"},
    "cli": {
        "problems",
        "config",
        "resize",
        "layouts",
        "storage",
        "telemetry",
        "rendering",
        "bulk",
        "proxy",
    },
}
OURS = set(ALLOWED)
# aiohttp is the HTTP server, and proxy/ is the only HTTP package. storage/s3answers.py is the
# one exception: aiobotocore's transport is aiohttp, whose errors it turns into StorageError.
AIOHTTP_ALLOWED = {"proxy", "storage/s3answers.py"}
# resize/ is blocking libvips work that callers run in their own threads: no event loop.
ALSO_BANNED = {"resize": {"asyncio"}}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) for every import in a file, conditional ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {package: set() for package in ALLOWED}
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            edges[package] |= {module for _, module in imports(path) if module in OURS}
    return edges


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for line, module in imports(path):
            if module in OURS and module != package and module not in ALLOWED[package]:
                wrong.append(f"{rel}:{line} imports {module}")
            aiohttp_ok = package in AIOHTTP_ALLOWED or rel in AIOHTTP_ALLOWED
            if module == "aiohttp" and not aiohttp_ok:
                wrong.append(f"{rel}:{line} imports aiohttp (only proxy/ speaks HTTP)")
            if module in ALSO_BANNED.get(package, set()):
                wrong.append(f"{rel}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_graph_has_no_cycles() -> None:
    edges = graph()
    print("\n" + "\n".join(f"{p:>10} -> {', '.join(sorted(e)) or '-'}" for p, e in edges.items()))
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(package: str, trail: list[str]) -> None:
        assert package not in visiting, f"import cycle: {' -> '.join([*trail, package])}"
        if package in done:
            return
        visiting.add(package)
        for target in edges[package] - {package}:
            visit(target, [*trail, package])
        visiting.discard(package)
        done.add(package)

    for package in edges:
        visit(package, [])
