"""Random programs (tests/fuzz/grammar.py) differentiated by srcgrad and checked against
Python and central differences (tests/fuzz/oracle.py).

Default run (CI): deterministic (``derandomize=True``, no example database), a few
hundred programs with the Python backend and a few dozen with ``jit=True``.  A failure
is shrunk by Hypothesis and printed as a minimal program with its arguments.

Long run, deselected by default, random seed:

    python -m pytest -m fuzz --fuzz-count 10000 [--fuzz-seed S] [--fuzz-off while,helpers]

It records every outcome, prints a summary (programs, refusals by message, failures by
kind), shrinks each distinct failure to a minimal program and fails if there was any.
"""

from __future__ import annotations

import random
import warnings

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz import campaign, oracle
from tests.fuzz.grammar import programs

#: Grammar features switched off in the CI profile, each because of a srcgrad bug that
#: is known and not yet fixed (see tests/fuzz/FINDINGS.md).  Remove a flag here once its
#: fix is merged; an empty set runs the whole grammar.
CI_OFF: set[str] = set()

#: The jit profile runs the whole grammar too: calls of the user's own functions are
#: lowered in place, so they compile with Numba like the rest.
JIT_OFF: set[str] = set(CI_OFF)

PYTHON_EXAMPLES = 500
JIT_EXAMPLES = 50

_CI = dict(derandomize=True, database=None, deadline=None, print_blob=False,
           suppress_health_check=campaign.SUPPRESS)


@settings(max_examples=PYTHON_EXAMPLES, **_CI)
@given(programs(off=CI_OFF))
def test_programs_python_backend(program):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = oracle.check(program, jit=False, jvp=True)
    oracle.raise_for(program, outcome)


@settings(max_examples=JIT_EXAMPLES, **_CI)
@given(programs(off=JIT_OFF))
def test_programs_jit(program):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = oracle.check(program, jit=True, jvp=False)
    oracle.raise_for(program, outcome)


@pytest.mark.fuzz
def test_fuzz_long(request):
    """The long random run: --fuzz-count programs, a summary, minimal reproducers."""
    opt = request.config.getoption
    count, seed_ = opt("--fuzz-count"), opt("--fuzz-seed")
    seed_ = random.randrange(2 ** 32) if seed_ is None else seed_
    off = tuple(x for x in opt("--fuzz-off").split(",") if x)
    stats = oracle.Stats()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")

    def say(text):
        if reporter is not None:
            reporter.write_line(text)
    say(f"\nfuzz: seed {seed_}, {count} programs, features off: {off or 'none'}")
    found = campaign.run(count, seed_, off, opt("--fuzz-jit-every"), stats=stats, progress=say)
    say(stats.summary(top=30))
    sections = []
    if opt("fuzz_shrink"):
        for sig, (index, program) in found.items():
            say(f"shrinking: {sig}")
            small = campaign.shrink(sig, seed_, index, count, off, start=program)
            small = campaign.reduce_source(small or program, sig)
            sections.append(campaign.report(sig, small or program))
            say(sections[-1])
    assert not found, (f"{len(found)} distinct failure(s) (seed {seed_}):\n"
                       + ("\n".join(sections) or "\n".join(found)))
