"""The package's import graph: no circle, and no module imports a layer above it.

The layers are those of CONTRIBUTING.rst and doc/architecture.rst. The graph
is read from the source (module-level and function-level imports alike).
"""

import ast
from pathlib import Path

import pytest

import mne_neurosketch

PACKAGE = Path(mne_neurosketch.__file__).parent
NAME = "mne_neurosketch"

#: From the bottom; a module's layer is that of its top-level name.
LAYERS = [
    {"_version", "_docs", "utils"},
    {"models", "training", "splits", "paradigms"},
    {"numerics", "augmentation", "inference", "alignment", "datasets",
     "representations", "ensemble", "selection"},
    {"_estimator"},
    {"estimator"},
    {"benchmark", "online"},
]


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _targets(module, node):
    """The package modules an import statement of ``module`` loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = module.split(".")
    if node.level:
        is_package = MODULES[module].name == "__init__.py"
        base = base[: len(base) - node.level + is_package]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix
            for a in node.names]


def import_graph():
    """``{module: {(imported module, line), ...}}`` within the package."""
    graph = {}
    for module, path in MODULES.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= {(t, node.lineno) for t in _targets(module, node)
                          if t in MODULES and t != module}
        graph[module] = edges
    return graph


def layer_of(module):
    top = module.split(".")[1] if "." in module else None
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    return None


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in MODULES if m != NAME and layer_of(m) is None)
    assert not unplaced, f"add these to LAYERS (and CONTRIBUTING.rst): {unplaced}"


def test_no_module_imports_a_layer_above_it():
    upward = [f"{m} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)}), "
              f"line {line}"
              for m, edges in import_graph().items() if m != NAME
              for t, line in sorted(edges) if layer_of(t) > layer_of(m)]
    assert not upward, "\n".join(upward)


def find_cycle(graph):
    """One import circle of ``graph`` as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(t for t, _ in graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_circle():
    # The package's __init__ re-exports its submodules, which import their
    # siblings by name, not through it: leave its own edges out.
    graph = {m: e for m, e in import_graph().items() if m != NAME}
    graph = {m: {(t, line) for t, line in e if t != NAME} for m, e in graph.items()}
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize("graph, expected", [
    ({"a": {("b", 1)}, "b": {("a", 2)}}, ["a", "b", "a"]),
    ({"a": {("b", 1)}, "b": {("c", 2)}, "c": set()}, None),
])
def test_the_circle_finder_finds_circles(graph, expected):
    assert find_cycle(graph) == expected
