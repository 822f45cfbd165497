"""The import graph of host/phyff: no circles, and arrows only downwards.

The packages, top to bottom (README's architecture section):

    cli -> compare / api -> ondevice / training -> phyll / datasets
        -> board -> protocol -> _native
    emulator (the board's emu:// transport plugin) -> board, protocol, media
    perf (speed figures, run with python -m) -> anything; nothing imports perf

Every import counts, also those inside functions: a lazy import is still an
arrow. A package may import itself and the packages listed for it below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "host" / "phyff"

ALLOWED: dict[str, set[str]] = {
    "cli": {"compare", "api", "ondevice", "training", "phyll", "datasets", "board",
            "protocol", "emulator", "media", "_native", "phyff"},
    "perf": {"compare", "ondevice", "training", "phyll", "datasets", "board", "protocol",
             "emulator", "media", "_native", "phyff"},
    "ondevice": {"phyll", "board", "protocol"},
    "compare": {"ondevice", "training", "phyll", "datasets", "board", "protocol"},
    "api": {"ondevice", "training", "phyll", "datasets", "board", "protocol"},
    "training": {"phyll", "protocol", "phyff"},
    "phyll": set(),
    "datasets": set(),
    "emulator": {"board", "protocol", "media", "_native", "phyff"},
    "board": {"protocol", "phyff"},
    "protocol": {"_native"},
    "media": set(),
    "phyff": {"api", "board"},  # the package's own __init__: the public API, lazily
    "__main__": {"cli"},
}
# Leaves any layer may read.
LEAVES = {"_version", "_native", "_text", "_fileio", "_npzentry"}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "phyff"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("__init__", "__main__") and len(parts) > 1:
        parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the phyff modules it imports (anywhere in its body)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = _module_name(path)
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.split(".")[0] == "phyff"}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] == "phyff":
                    for alias in node.names:
                        sub = f"{node.module}.{alias.name}"
                        is_module = (ROOT.parent / Path(*sub.split("."))).with_suffix(".py")
                        targets.add(sub if is_module.exists() else node.module)
        graph[name] = targets
    return graph


def test_every_package_is_classified() -> None:
    packages = {_package(m) for m in import_graph()}
    unknown = packages - set(ALLOWED) - LEAVES
    assert not unknown, f"add {sorted(unknown)} to ALLOWED"


def test_arrows_point_down() -> None:
    violations = []
    for module, targets in import_graph().items():
        pkg = _package(module)
        for target in targets:
            tpkg = _package(target)
            if tpkg != pkg and tpkg not in ALLOWED[pkg] and tpkg not in LEAVES:
                violations.append(f"{module} imports {target} ({pkg} -> {tpkg})")
    assert not violations, "imports against the layer order:\n" + "\n".join(sorted(violations))


def test_no_import_circles() -> None:
    graph = import_graph()
    modules = set(graph)
    edges = {m: {t for t in ts if t in modules and t != m} for m, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycle = [*stack[stack.index(t):], t]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            visit(m)


def test_the_checker_sees_lazy_imports(tmp_path: Path) -> None:
    tree = ast.parse("def f():\n    from phyff.emulator import device\n")
    found = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert found and found[0].module == "phyff.emulator"
