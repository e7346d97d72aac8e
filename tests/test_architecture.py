"""The shape of the code, read from its source with ``ast`` (nothing is imported): the import graph under
``server/ganpaint`` has no circle (function-level imports count: a lazy import dodges a circle, it does not
remove it), nothing outside ``ganpaint.api`` imports it (imports run ``api -> engine -> nn``), and no function is
longer than 100 lines (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "server" / "ganpaint"
MAX_FUNCTION_LINES = 100


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def imported(tree: ast.Module, name: str, known: set[str]) -> set[str]:
    """The ganpaint modules ``tree`` (module ``name``) imports anywhere in its body, as known module names."""
    package = name if name in known and (PACKAGE / Path(*name.split(".")[1:]) / "__init__.py").is_file() else None
    package = package or name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y, in the package (level 1) or above it
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out.update(t for t in targets if t.startswith("ganpaint") and t in known and t != name)
    return out


def import_graph() -> dict[str, set[str]]:
    trees = modules()
    known = set(trees)
    return {name: imported(tree, name, known) for name, tree in trees.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle in ``graph`` as a list of modules (first = last), or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_import_graph_has_no_circle():
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_nothing_below_the_api_imports_it():
    graph = import_graph()
    offenders = sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if not name.startswith("ganpaint.api")
        for target in targets
        if target.startswith("ganpaint.api")
    )
    assert offenders == []


def frozen(node: ast.ClassDef) -> bool:
    """``@dataclass(frozen=True)``: instances hold no state that changes."""
    return any(
        isinstance(d, ast.Call) and any(k.arg == "frozen" and getattr(k.value, "value", False) for k in d.keywords)
        for d in node.decorator_list
    )


def project_classes() -> set[str]:
    """The project's classes whose instances can change (not frozen dataclasses)."""
    trees = modules().values()
    return {n.name for tree in trees for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and not frozen(n)}


def module_singletons(prefix: str) -> list[str]:
    """Module-level names bound to an instance of one of the project's classes (``X = SomeClass()``), in modules
    under ``prefix``: per-process state that belongs on an object the app builds."""
    classes, found = project_classes(), []
    for name, tree in modules().items():
        if not name.startswith(prefix):
            continue
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call):
                func = node.value.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if called in classes:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    found += [f"{name}.{getattr(t, 'id', '?')} = {called}()" for t in targets]
    return sorted(found)


def test_no_module_level_state():
    """Caches, lanes, refusal logs and the like belong to an object the app builds (tests get fresh ones)."""
    assert module_singletons("ganpaint") == []


def test_no_function_is_over_100_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                lines = node.end_lineno - start + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def test_only_api_js_talks_to_the_server():
    """The page: only web/js/api.js knows URLs and message shapes (fetch, WebSocket)."""
    web = PACKAGE.parents[1] / "web" / "js"
    talkers = sorted(p.name for p in web.glob("*.js") if "fetch(" in p.read_text() or "new WebSocket(" in p.read_text())
    assert talkers == ["api.js"]
