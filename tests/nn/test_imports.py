"""How nn's modules (and the replay modules of the engine) import each other: no cycle,
not even through an import inside a function, and no private name of another module."""

import ast
import pathlib

import tapegrad.engine
import tapegrad.nn

NN = pathlib.Path(tapegrad.nn.__file__).parent
ENGINE = pathlib.Path(tapegrad.engine.__file__).parent
#: The engine modules that replay and batched replay are made of.
REPLAY_MODULES = ("replay", "vmap", "program", "trace")


def module_name(path: pathlib.Path) -> str:
    root = path.parent
    while (root / "__init__.py").exists() and root.name != "tapegrad":
        root = root.parent
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def known_modules() -> dict[str, pathlib.Path]:
    paths = [*NN.rglob("*.py"), *ENGINE.glob("*.py")]
    return {module_name(p): p for p in paths}


def imports(path: pathlib.Path, modules: dict[str, pathlib.Path]):
    """``(imported module, names imported from it)`` for every import in the file,
    at the top or inside a function, relative imports resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = node.module or ""
            if node.level:
                target = f"{base}.{target}" if target else base
            names = [alias.name for alias in node.names]
            submodules = [n for n in names if f"{target}.{n}" in modules]
            for sub in submodules:
                yield f"{target}.{sub}", []
            yield target, [n for n in names if n not in submodules]


def graph() -> dict[str, set[str]]:
    modules = known_modules()
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges[name] = set()
        for target, _ in imports(path, modules):
            if target in modules and target != name:
                edges[name].add(target)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def ours(name: str) -> bool:
    return name.startswith("tapegrad.nn") or name in {
        f"tapegrad.engine.{m}" for m in REPLAY_MODULES
    }


def test_no_import_cycle_in_nn_and_the_replay_modules():
    edges = graph()
    # a package imports its modules (nn/__init__); a module's parent package runs
    # first anyway, so an import of the package itself is not an edge of a cycle
    mine = {
        name: {t for t in targets if ours(t) and not name.startswith(t + ".")}
        for name, targets in edges.items()
        if ours(name)
    }
    assert find_cycle(mine) is None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_private_name_is_imported_from_another_module():
    modules = known_modules()
    found = []
    for name, path in modules.items():
        if not ours(name):
            continue
        for target, names in imports(path, modules):
            if target.startswith("tapegrad") and target != name:
                found += [f"{name}: from {target} import {n}" for n in names if n.startswith("_")]
    assert found == []
