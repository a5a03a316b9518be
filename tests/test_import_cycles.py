"""No import cycles among msgworker's modules: the layout shows the dependency direction
(for instance ``failure_actions/__init__`` → one module per action → ``_aws``), and a
cycle would make an import's success depend on which module happened to be imported first.

Every import that can run counts, those inside functions too: deferring an import into a
function (as the failure actions once did) hides a cycle without removing it. Imports
under ``if TYPE_CHECKING:`` never run and do not count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import msgworker

ROOT = Path(msgworker.__file__).parent


def module_name(path: Path) -> str:
    parts = ["msgworker", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in ROOT.rglob("*.py")}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of the module, in functions too, except under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.orelse:
                yield from runtime_imports(ast.Module(body=[statement], type_ignores=[]))
        else:
            yield from runtime_imports(node)


def imports_of(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text(), str(MODULES[name]))
    package = name if is_package(name) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in runtime_imports(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        submodules = {f"{base}.{alias.name}" for alias in node.names} & MODULES.keys()
        found |= submodules
        if len(submodules) < len(node.names):  # some names are the module's own attributes
            found.add(base)
    return {target for target in found if target in MODULES and target != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_of_msgworker_imports_itself_back() -> None:
    graph = {name: imports_of(name) for name in MODULES}
    assert cycles(graph) == []


def test_the_failure_actions_depend_one_way() -> None:
    package = "msgworker.failure_actions"
    helpers, actions = (
        f"{package}._aws",
        {f"{package}._dead_letter", f"{package}._redelivery", f"{package}._pause_source"},
    )
    assert not imports_of(helpers) & ({package} | actions), "the helpers import no action"
    for action in actions:
        assert helpers in imports_of(action)
        assert not imports_of(action) & ({package} | actions), f"{action} imports no other action"
    assert actions | {helpers} >= imports_of(package) & {name for name in MODULES if name.startswith(package)}


def test_the_finder_sees_imports_deferred_into_functions() -> None:
    graph = {name: imports_of(name) for name in MODULES}
    assert "msgworker.failure_actions" in graph["msgworker._worker"], "the worker imports them in a function"


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
