"""The registry of warning codes (what `lint --ignore` and the lint-ignore annotation accept) matches the code that
gives warnings and the decision table that documents them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from seccomp_operator.profile.findings import WARNING_CODES

REPO = Path(__file__).resolve().parents[2]
# The modules whose findings lint reports (convert.py and recording.py warn about importing and recording, which
# are other commands).
CHECKED = [
    REPO / "seccomp_operator" / "profile" / f"{name}.py"
    for name in ("parse", "shape", "validate", "compile", "resource", "resolve")
]
CHECKED.append(REPO / "seccomp_operator" / "commands" / "lint.py")


def codes_given(severity: str) -> set[str]:
    """Literal codes passed to `warning(pointer, code, message)` / `error(...)` anywhere in the checked modules."""
    found: set[str] = set()
    for path in CHECKED:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == severity:
                code = node.args[1] if len(node.args) > 1 else None
                if isinstance(code, ast.Constant) and isinstance(code.value, str):
                    found.add(code.value)
    return found


def test_every_warning_the_checks_give_can_be_silenced() -> None:
    assert codes_given("warning") == WARNING_CODES


def test_no_code_is_both_a_warning_and_an_error() -> None:
    assert codes_given("warning") & codes_given("error") == set()


def test_every_warning_code_is_documented() -> None:
    readme = (REPO / "seccomp_operator" / "profile" / "README.md").read_text()
    documented = set(re.findall(r"`([a-z0-9]+(?:-[a-z0-9]+)+)`", readme))
    assert WARNING_CODES - documented == set()
