"""The import layers of `simulator/`, the silent core and the matplotlib fence, checked on the source.

The package is a stack of layers; every import points down. From the ground up:

 0. `workload/` (the Gemm value type and ViT shapes) and `errors.py` (ConfigError) need nothing.
 1. `config/` (frozen schemas and the only YAML reader) and `executors.py` (inline, process and
    Dask executors) stand on the ground.
 2. `kernels/` (numba kernels over integer codes and their numpy twins), `metrics/` (action
    counts, energy, reports, statistics, area) and `admission.py` (up-front checks that a run
    fits: fault selection, memory estimate) know configuration but no geometry.
 3. `mapping/` is the geometry of a dataflow: folds, schedules, regions and their prices.
 4. `faults/` (sampling, effects, the emulator) and `abft/` (checksums, policies) stand on the
    geometry and do not know each other.
 5. `verify/` (the join of faults and ABFT: what the checks see) and `engine/` (the timing model,
    which asks a verifier but never a fault: it does not import faults/) do not know each other.
 6. `functional/` is functional ViT inference through the faulty accelerator; `reliability/` (upset rates,
    single-fault AVF, FIT per policy) stands beside it.
 7. `api.py` orchestrates one run.
 8. `campaign/` runs trials of the api into sweeps and a result store.
 9. `viz/` draws figures (the only importer of matplotlib).
10. `cli.py` (or the `cli/` package) is the only module that prints, writes, exits or configures
    logging; `__main__.py` sits on it, and `simulator/__init__.py` (lazy entry points) above all.

A node (a package or a top-level module) may import itself and any node on a strictly lower
layer; nodes on the same layer are independent. Function-level imports count like module-level
ones: a lazy import hides an arrow, it does not remove it. The module graph has no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "simulator"

# bottom first; every node on its layer
LAYERS: tuple[tuple[str, ...], ...] = (
    ("workload", "errors"),
    ("config", "executors"),
    ("kernels", "metrics", "admission"),
    ("mapping",),
    ("faults", "abft"),
    ("verify", "engine"),
    ("functional", "reliability"),
    ("api",),
    ("campaign",),
    ("viz",),
    ("cli",),
    ("__main__",),
    ("__init__",),
)
LAYER_OF = {node: level for level, nodes in enumerate(LAYERS) for node in nodes}
# the bundled YAML packages hold data only
DATA_PACKAGES = {"hw_configs", "workloads", "sweeps"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _node(module: str) -> str:
    """The layer node of a module: its subpackage or top-level module under simulator/."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, module: str, modules: set[str]) -> Iterator[tuple[str, int]]:
    """Every module of `modules` that `path` imports, anywhere in the file, with its line."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                # `from simulator import api` imports the module simulator.api, not the package
                name = f"{target}.{alias.name}"
                if name in modules:
                    yield name, node.lineno
                elif target in modules:
                    yield target, node.lineno


def _graph() -> dict[str, set[tuple[str, int]]]:
    sources = _sources()
    graph: dict[str, set[tuple[str, int]]] = {}
    for module, path in sources.items():
        edges = graph.setdefault(module, set())
        for target, line in _imports(path, module, set(sources)):
            if target != module:
                edges.add((target, line))
    return graph


def test_every_node_has_a_layer() -> None:
    # a new package must be placed in the prose above and in LAYERS before it can be imported
    nodes = {_node(m) for m in _sources()} - DATA_PACKAGES
    assert nodes <= set(LAYER_OF), f"packages without a layer: {sorted(nodes - set(LAYER_OF))}"


def test_imports_point_down() -> None:
    broken = []
    for module, edges in _graph().items():
        source = _node(module)
        for target, line in sorted(edges):
            dest = _node(target)
            if dest != source and LAYER_OF[dest] >= LAYER_OF[source]:
                broken.append(f"{module}:{line} imports {target} ({source} -> {dest})")
    assert broken == [], "imports that break the layer order:\n" + "\n".join(broken)


def test_the_engine_never_sees_a_fault() -> None:
    # the engine asks a TileVerifier (abft.protocol) what a fold attempt's checks see; faults/ is
    # below it in the layers, but the join of faults and checks is verify/'s job alone
    edges = [
        f"{module}:{line} imports {target}"
        for module, targets in _graph().items()
        if _node(module) == "engine"
        for target, line in sorted(targets)
        if _node(target) == "faults"
    ]
    assert edges == []


def test_no_import_cycle() -> None:
    graph = {m: {t for t, _ in edges} for m, edges in _graph().items()}
    # iterative depth-first search with three colours; a grey target closes a cycle
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    cycles = []
    for root in graph:
        if colour[root] != white:
            continue
        stack = [(root, iter(sorted(graph[root])))]
        path = [root]
        colour[root] = grey
        while stack:
            module, targets = stack[-1]
            target = next(targets, None)
            if target is None:
                colour[module] = black
                stack.pop()
                path.pop()
            elif colour[target] == grey:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif colour[target] == white:
                colour[target] = grey
                path.append(target)
                stack.append((target, iter(sorted(graph[target]))))
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def _is_cli(module: str) -> bool:
    return _node(module) in ("cli", "__main__")


def _calls(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """Dotted names of every call in a tree (`sys.exit`, `exit`, `logging.basicConfig`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts = []
            func = node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                parts.append(func.id)
                yield ".".join(reversed(parts)), node.lineno


EXITS = {"exit", "quit", "sys.exit", "os._exit", "os.abort"}
# print (ruff's T20 guards it too) and the calls that configure logging
LOUD_CALLS = {"print", "pprint", "basicConfig", "dictConfig", "fileConfig", "addHandler", "setLevel"}


def test_core_is_silent() -> None:
    # DESIGN.md section 8: only the CLI prints, exits or configures logging
    loud = []
    for module, path in _sources().items():
        if _is_cli(module):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for name, line in _calls(tree):
            if name in EXITS or name.split(".")[-1] in LOUD_CALLS:
                loud.append(f"{module}:{line} calls {name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call | ast.Name):
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and exc.id == "SystemExit":
                    loud.append(f"{module}:{node.lineno} raises SystemExit")
    assert loud == [], "the core must stay silent:\n" + "\n".join(loud)


def test_only_viz_imports_matplotlib() -> None:
    offenders = []
    for module, path in _sources().items():
        if _node(module) == "viz":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            offenders += [f"{module}:{node.lineno} imports {n}" for n in names if n.split(".")[0] == "matplotlib"]
    assert offenders == [], "\n".join(offenders)


PROBE_MODULES = {
    "simulator",
    "simulator.api",
    "simulator.abft.policies",
    "simulator.mapping",
    "simulator.mapping.dataflow",
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # an upward function-level import is caught like a module-level one
        ("def f():\n    from simulator.api import run\n", ["simulator.api"]),
        ("from simulator import api\n", ["simulator.api"]),
        ("import simulator.abft.policies\n", ["simulator.abft.policies"]),
        ("from simulator.mapping import dataflow, Fold\n", ["simulator.mapping.dataflow", "simulator.mapping"]),
        ("from ..mapping.dataflow import Dataflow\n", ["simulator.mapping.dataflow"]),
        ("import numpy\nfrom os import path\n", []),
    ],
)
def test_the_walker_sees_every_import(tmp_path: Path, source: str, expected: list[str]) -> None:
    # the test's own oracle: the walker finds imports wherever they are written
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert [t for t, _ in _imports(path, "simulator.faults.probe", PROBE_MODULES)] == expected


def test_the_silence_check_sees_exits_and_prints() -> None:
    tree = ast.parse("import sys\ndef f():\n    print(1)\n    sys.exit(2)\n    logging.basicConfig()\n")
    assert [name for name, _ in _calls(tree)] == ["print", "sys.exit", "logging.basicConfig"]


# Modules that may name a dataflow (Dataflow.OS / WS / IS): its definition and default, the
# geometry objects, the emulator (a per-dataflow register machine). The numba kernels branch on
# integer codes instead; the schedule's residency rule and per-fold traffic ask the geometry.
NAMES_DATAFLOWS = {
    "simulator.config.enums",
    "simulator.config.schema",
    "simulator.mapping.dataflow",
    "simulator.faults.emulator",
}


def test_only_the_geometry_branches_on_the_dataflow():
    named = set()
    for module, path in _sources().items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "Dataflow"
                and node.attr in ("OS", "WS", "IS")
            ):
                named.add(module)
    assert named <= NAMES_DATAFLOWS, f"ask mapping.dataflow.geometry_of instead: {sorted(named - NAMES_DATAFLOWS)}"
