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
