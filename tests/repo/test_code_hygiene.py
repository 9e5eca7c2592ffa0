"""Review found dead code and helpers written twice (a second `free_port`, `percentile`, runtime fixture, name check,
`wait_for` beside `wait_until`). These checks keep both from coming back: every function is used somewhere, and no
function body is written again under another name."""

from __future__ import annotations

import ast
import copy
import re
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("seccomp_operator", "tests", "bench")
# Called by a framework, never by name from this repository.
CALLBACKS = {
    "on_any_event",  # watchdog's FileSystemEventHandler
}
# Folding these belongs to work in progress elsewhere (issue 12 rewrites controller/ and kube/); remove each entry
# once that lands.
PENDING = {
    "raw_get",  # kube/client.py
    "object_key",  # kube/informer.py, and `_key` in controller/operator.py
    "condition",  # tests/integration/test_operator.py, and tests/faults/common.py
}
NOT_REGISTRATIONS = {"property", "staticmethod", "classmethod", "contextmanager", "asynccontextmanager", "cache"}
# Bodies smaller than this (AST nodes once names are blanked) are too small to call a repeat: `return {}` and such.
MIN_REPEAT_NODES = 20


def python_files() -> list[Path]:
    return sorted(p for root in SOURCES for p in (REPO / root).rglob("*.py"))


def _body(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    body = func.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        body = body[1:]  # the docstring
    return body


class _BlankNames(ast.NodeTransformer):
    """Same shape under other names: local names and argument names are blanked, attributes and calls kept."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Name(id="_", ctx=node.ctx), node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.copy_location(ast.arg(arg="_"), node)


def _functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_no_function_body_is_written_twice() -> None:
    places: dict[str, list[str]] = defaultdict(list)
    names: dict[str, set[str]] = defaultdict(set)
    for path in python_files():
        for func in _functions(path):
            shape = _BlankNames().visit(ast.Module(body=copy.deepcopy(_body(func)), type_ignores=[]))
            if sum(1 for _ in ast.walk(shape)) < MIN_REPEAT_NODES:
                continue
            key = ast.dump(shape)
            places[key].append(f"{path.relative_to(REPO)}:{func.lineno} {func.name}")
            names[key].add(func.name.lstrip("_"))
    repeats = [where for key, where in places.items() if len(where) > 1 and not names[key] & PENDING]
    assert not repeats, "the same function body stands in more than one place; keep one and import it:\n" + "\n".join(
        "  " + " = ".join(where) for where in repeats
    )


def test_every_function_is_used() -> None:
    """A function or method of the package that nothing names (code, tests, benchmarks or docs) is dead."""
    texts = [p.read_text() for p in python_files()]
    texts += [p.read_text() for p in REPO.rglob("*.md") if ".venv" not in p.parts]
    mentions: dict[str, int] = defaultdict(int)
    for text in texts:
        for word in re.findall(r"\w+", text):
            mentions[word] += 1
    unused = []
    # The test harnesses (seccomp_operator/testing) are a library for tests yet to be written too: not checked.
    product = [p for p in (REPO / "seccomp_operator").rglob("*.py") if "testing" not in p.relative_to(REPO).parts]
    for path in sorted(product):
        for func in _functions(path):
            name = func.name
            if name.startswith("__") or name in CALLBACKS | PENDING:
                continue
            # A decorated function is registered with its framework (kopf handlers, pytest fixtures); @property and
            # the like are not registrations.
            registered = [d for d in func.decorator_list if ast.unparse(d).split(".")[-1] not in NOT_REGISTRATIONS]
            if not registered and mentions[name] <= 1:
                unused.append(f"{path.relative_to(REPO)}:{func.lineno} {name}")
    assert not unused, "defined but never used:\n" + "\n".join("  " + u for u in unused)
