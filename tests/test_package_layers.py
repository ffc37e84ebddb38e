"""The package's layers (ARCHITECTURE.md): imports point down, never up, and no two
folders import each other. Every import counts, the ones inside functions and under
TYPE_CHECKING too: a lazy import that climbs is still a dependency that climbs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "slobench"

# cli -> campaign -> report -> engines -> sched -> perf | workloads | metrics -> core
LAYERS: dict[str, int] = {"core": 0, "perf": 1, "workloads": 1, "metrics": 1, "sched": 2,
                          "engines": 3, "report": 4, "campaign": 5, "cli": 6}
# Inside engines/: the shared modules (base, requests, ...) under the three engines;
# the vLLM engine is the openai engine over servers it starts, so it may use http/.
ENGINE_LAYERS: dict[str, int] = {"": 0, "sim": 1, "http": 1, "vllm": 2}


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m == "slobench" or m.startswith("slobench.")}


def _folder(module_parts: tuple[str, ...]) -> str:
    """The top folder of a module under slobench ('core' for slobench/__init__)."""
    if len(module_parts) < 2 or module_parts[1] in ("__init__", "__main__"):
        return "cli" if module_parts[-1] == "__main__" else "core"
    return module_parts[1]


def _edges() -> list[tuple[str, str, str]]:
    """(importing module, its folder, imported module) for every slobench import."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("slobench", *path.relative_to(PACKAGE).with_suffix("").parts)
        for target in _imports(path):
            edges.append((".".join(parts), _folder(parts), target))
    return edges


def test_the_walk_sees_the_package() -> None:
    edges = _edges()
    assert len(edges) > 200
    assert {folder for _, folder, _ in edges} >= set(LAYERS)


def test_no_import_climbs_a_layer_or_crosses_to_a_sibling() -> None:
    bad = []
    for module, folder, target in _edges():
        dest = _folder(tuple(target.split(".")))
        if dest != folder and LAYERS[dest] >= LAYERS[folder]:
            bad.append(f"{module} ({folder}) imports {target} ({dest})")
    assert bad == []


def test_inside_engines_the_vllm_engine_builds_on_http_and_nothing_climbs() -> None:
    bad = []
    for module, folder, target in _edges():
        parts, dest = module.split("."), target.split(".")
        if folder != "engines" or _folder(tuple(dest)) != "engines":
            continue
        src_sub = parts[2] if len(parts) > 3 else ""
        dst_sub = dest[2] if len(dest) > 3 else ""
        if src_sub != dst_sub and ENGINE_LAYERS[dst_sub] >= ENGINE_LAYERS[src_sub]:
            bad.append(f"{module} imports {target}")
    assert bad == []


@pytest.mark.parametrize("core_module", sorted(p.stem for p in (PACKAGE / "core").glob("*.py")))
def test_core_imports_nothing_of_slobench_outside_core(core_module: str) -> None:
    targets = _imports(PACKAGE / "core" / f"{core_module}.py")
    assert all(t.startswith("slobench.core") for t in targets), targets
