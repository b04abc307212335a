"""Command-line options of the program fuzzer (tests/fuzz/) and its run summary."""


def pytest_addoption(parser):
    group = parser.getgroup("fuzz", "srcgrad program fuzzer (tests/fuzz/, run with -m fuzz)")
    group.addoption("--fuzz-count", type=int, default=1000,
                    help="programs in the long fuzz run (default 1000)")
    group.addoption("--fuzz-seed", type=int, default=None,
                    help="seed of the long fuzz run (default: random, printed)")
    group.addoption("--fuzz-off", default="",
                    help="comma-separated grammar features to switch off (tests/fuzz/grammar.py)")
    group.addoption("--fuzz-jit-every", type=int, default=50,
                    help="also check jit=True on every k-th program of the long run (0: never)")
    group.addoption("--fuzz-no-shrink", dest="fuzz_shrink", action="store_false", default=True,
                    help="report each distinct failure as first found, without shrinking it")


def pytest_terminal_summary(terminalreporter):
    import sys
    oracle = sys.modules.get("tests.fuzz.oracle")
    if oracle is not None and oracle.STATS.programs:
        terminalreporter.write_sep("-", "srcgrad fuzz")
        terminalreporter.write_line(oracle.STATS.summary(top=10 if oracle.STATS.programs < 2000 else 30))


# ---------------------------------------------------------------- the fast lane
# Tests that compile with Numba are marked ``jit``, so ``pytest -m "not jit"`` is a fast
# lane for the inner loop; the README's command runs everything.
_JIT_MODULES = {"test_jit", "test_cache", "test_threads"}
_JIT_WORDS = ("jit=True", "njit", "numba", "jit=jit", "JIT_SAMPLE")


def _compiles_with_numba(item) -> bool:
    import inspect
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(
            k in ("jit", "backend") and v not in (False, None, "python") for k, v in callspec.params.items()):
        return True
    if callspec is not None and "jit" in callspec.params:
        return False
    if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in _JIT_MODULES:
        return True
    try:
        source = inspect.getsource(item.function)
    except (OSError, TypeError, AttributeError):
        return False
    return any(word in source for word in _JIT_WORDS)


def pytest_collection_modifyitems(config, items):
    """Mark the Numba tests ``jit``; leave out ``slow`` and ``fuzz`` tests unless the
    marker expression names them (``-m slow``, ``-m fuzz``)."""
    import pytest
    expression = config.getoption("markexpr") or ""
    kept, dropped = [], []
    for item in items:
        if _compiles_with_numba(item):
            item.add_marker(pytest.mark.jit)
        opt_in = [m for m in ("slow", "fuzz") if item.get_closest_marker(m)]
        (dropped if any(m not in expression for m in opt_in) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
