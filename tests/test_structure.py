"""Size limits that keep the compiler readable: no function over about 60 lines, and no
module over about 500 lines unless its docstring says why."""

import ast
import pathlib

import pytest

import srcgrad

PACKAGE = pathlib.Path(srcgrad.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MODULE_LINES, FUNCTION_LINES = 520, 60


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_module_is_small_or_says_why(path):
    source = path.read_text()
    lines = source.count("\n")
    docstring = ast.get_docstring(ast.parse(source)) or ""
    assert lines <= MODULE_LINES or "500 lines" in docstring, \
        f"{path.name} has {lines} lines; split it by role or say why in its docstring"


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_functions_are_short(path):
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > FUNCTION_LINES]
    assert not long, f"{path.name}: {long}"
