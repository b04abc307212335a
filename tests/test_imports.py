"""The module structure: no import cycles among srcgrad's modules (imports inside
functions included), and the jit=False path never imports Numba."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "srcgrad"

#: Edges allowed to close a cycle, each with the reason; empty when there is none.
KNOWN_CYCLE_EDGES: set = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name: str, modules) -> str | None:
    """The srcgrad module ``name`` denotes (a package's ``__init__`` for a package)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules) -> set[str]:
    """Every srcgrad module ``module`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # ``from pkg import sub`` imports the submodule when there is one
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                     for a in node.names]
        else:
            continue
        for name in names:
            if name == "srcgrad" or name.startswith("srcgrad."):
                target = _resolve(name, modules)
                if target and target != module:
                    out.add(target)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def find_cycle(graph, ignored=frozenset()) -> list[str] | None:
    """One cycle of ``graph`` (a list of modules, first repeated last), or None."""
    state: dict = {}
    stack: list = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if (node, nxt) in ignored:
                continue
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    assert "srcgrad.pipeline" in graph["srcgrad.api"]
    assert "srcgrad.transforms.lower" in graph["srcgrad.pipeline"]
    # imported inside a function only
    assert "srcgrad.backends.numba" in graph["srcgrad.jitting"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph(), frozenset(KNOWN_CYCLE_EDGES))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


_NO_NUMBA = """
    import sys
    import numpy as np
    sys.path.insert(0, "tests")
    import srcgrad
    import {module} as m
    assert "numba" not in sys.modules, "imported by import srcgrad"
    out = srcgrad.grad(m.{fn})({args})
    srcgrad.value_and_grad(m.{fn})({args})
    srcgrad.jvp(m.{fn}, ({args},), ({args},))
    srcgrad.show(srcgrad.grad(m.{fn}), file=open("/dev/null", "w"))
    loaded = sorted(k for k in sys.modules if k == "numba" or k.startswith("numba."))
    assert not loaded, loaded[:5]
    print("ok")
"""


def test_jit_false_never_imports_numba_without_loops():
    result = _run(_NO_NUMBA.format(module="golden_functions", fn="readme_example",
                                   args="np.ones((3, 4)), np.ones(4)"))
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_jit_false_never_imports_numba_with_loops():
    result = _run(_NO_NUMBA.format(module="golden_functions", fn="scalar_loop",
                                   args="2.0, np.ones(3)"))
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


# --------------------------------------------------------------------------- runtime twins
#: Runtime helpers without a Numba twin, and why that is right (or a known gap).
NO_TWIN = {
    "list_append": "generated code spells it items.append(v): Numba's own list method",
    "list_pop": "generated code spells it items.pop(): Numba's own list method",
    "list_version": "generated code spells it as the list itself (items)",
    "item": "generated code spells it as a subscript, items[i]",
    "stack": "the untyped stack: Python only; with types known the reverse pass names a "
             "typed constructor (stack_f64()...), and Numba cannot type an empty list",
}

#: Runtime helpers generated code calls that have no second-order rule: a derivative of a
#: derivative that needs one is refused at its line.
NO_SECOND_ORDER = {
    "add_item": "adjoint update of a run-time list (an 'into' vjp): refused for higher order",
    "add_each": "adjoint update of a run-time list (an 'into' vjp): refused for higher order",
    "add_stacked": "adjoint update of a run-time list (an 'into' vjp): refused for higher order",
    "add_concatenated": "adjoint update of a run-time list (an 'into' vjp): refused for "
                        "higher order",
    "inverse_or_zero": "inside log_or_zero's rules: a third derivative of a log is refused",
    "prod_others_jvp": "inside prod_others's rules: a third derivative of np.prod is refused",
    "multi_dot_grads": "np.linalg.multi_dot's helpers: its second derivative is refused",
    "multi_dot_jvp": "np.linalg.multi_dot's helpers: its second derivative is refused",
    "cumprod_jvp2": "inside np.cumprod's helpers' rules: a third derivative of np.cumprod "
                    "is refused",
    "cumprod_hvp": "inside np.cumprod's helpers' rules: a third derivative of np.cumprod "
                   "is refused",
    "numba_matmul": "never in generated code: the Numba backend's stand-in for np.matmul",
}


def _runtime_helpers():
    import inspect

    from srcgrad.runtime import (broadcast, linalg_helpers, lists, numpy_helpers,
                                 shape_helpers, special_helpers, tape)
    out = {}
    for module in (tape, lists, broadcast, numpy_helpers, linalg_helpers, special_helpers,
                   shape_helpers):
        for name, fn in vars(module).items():
            if not name.startswith("_") and inspect.isfunction(fn) \
                    and fn.__module__ == module.__name__:
                out[name] = fn
    return out


def test_every_runtime_helper_has_a_numba_twin_or_a_reason():
    import srcgrad  # noqa: F401  (records every twin)
    from srcgrad.runtime import twins
    have = twins.twinned()
    helpers = _runtime_helpers()
    missing = sorted(n for n, fn in helpers.items() if id(fn) not in have and n not in NO_TWIN)
    assert not missing, f"runtime helpers without a Numba twin: {missing}"
    stale = sorted(n for n in NO_TWIN if n not in helpers or id(helpers[n]) in have)
    assert not stale, f"NO_TWIN lists helpers that have a twin or no longer exist: {stale}"


def test_every_runtime_helper_has_a_second_order_rule_or_a_reason():
    from srcgrad.rules import registry
    missing, stale = [], []
    for name, fn in sorted(_runtime_helpers().items()):
        prim = registry.lookup(fn)
        ruled = prim is not None and (prim.vjps or prim.nondiff or prim.structural)
        if not ruled and name not in NO_SECOND_ORDER:
            missing.append(name)
        if ruled and name in NO_SECOND_ORDER:
            stale.append(name)
    assert not missing, f"runtime helpers without a rule for higher order: {missing}"
    assert not stale, f"NO_SECOND_ORDER lists helpers that have rules now: {stale}"


def test_the_twins_are_applied_when_the_backend_loads():
    pytest.importorskip("numba")
    result = _run("""
        import srcgrad
        from srcgrad.runtime import twins
        import srcgrad.backends.numba as backend
        assert twins._APPLY is backend._apply_twin
        print(len(twins._TWINS))
    """)
    assert result.returncode == 0 and int(result.stdout) > 50, result.stderr
