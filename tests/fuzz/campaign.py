"""Long fuzzing runs: many random programs, every failure recorded, then each distinct
failure shrunk to a minimal reproducer.

Used by the ``fuzz``-marked test (``python -m pytest -m fuzz --fuzz-count 10000``) and
runnable on its own, e.g. in the background:

    nice -n 10 python -m tests.fuzz.campaign --count 2000 --off helpers,while --out run.md

Phase 1 runs ``count`` programs from a random (printed) seed and records outcomes without
stopping at a failure.  Phase 2 takes each distinct failure signature seen (the kind of
failure, plus the raising location for exceptions) and asks Hypothesis for the smallest
program with that signature (``hypothesis.find``, a fresh search that then shrinks;
the unshrunk program is kept when the search misses).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import warnings

from hypothesis import HealthCheck, Phase, find, given, seed, settings
from hypothesis.errors import NoSuchExample, Unsatisfiable

from tests.fuzz import oracle
from tests.fuzz.grammar import programs

SUPPRESS = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]


def run(count: int, seed_: int, off=(), jit_every: int = 0, stats=None, progress=None):
    """Phase 1: ``count`` programs, outcomes recorded in ``stats`` (default oracle.STATS).

    Returns {signature: first failing program}.  ``jit_every=k`` also checks jit=True on
    every k-th program (0: never); helper calls are refused under jit, as documented.
    """
    stats = stats or oracle.STATS
    found: dict[str, object] = {}
    n = [0]

    @seed(seed_)
    @settings(max_examples=count, database=None, deadline=None, derandomize=False,
              suppress_health_check=SUPPRESS, phases=[Phase.generate])
    @given(programs(off=off))
    def one(program):
        n[0] += 1
        jit = bool(jit_every) and n[0] % jit_every == 0 and "helpers" not in program.features
        outcome = oracle.check(program, jit=jit, record=False)
        stats.add(program, outcome)
        for sig in outcome.signatures:
            found.setdefault(sig, program)
        if progress and n[0] % 250 == 0:
            progress(f"{n[0]} programs, {stats.status.get('fail', 0)} failing, "
                     f"{len(found)} distinct failures")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one()
    return found


def shrink(signature: str, off=(), max_examples: int = 2000, jit: bool = False, start=None):
    """Phase 2: the smallest program whose check fails with ``signature`` (or None)."""
    def fails(program) -> bool:
        out = oracle.check(program, jit=jit, record=False)
        return signature in out.signatures

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return find(programs(off=off), fails,
                        settings=settings(max_examples=max_examples, database=None, deadline=None,
                                          suppress_health_check=SUPPRESS))
        except (NoSuchExample, Unsatisfiable):
            return start


def report(signature: str, program) -> str:
    """A reproducer as Markdown: the program, the call and what went wrong."""
    jit = signature.startswith("jit")
    out = oracle.check(program, jit=jit, record=False)
    details = "\n".join(f"- {f}" for f in out.failures if oracle.signature(f) == signature) or \
        "- (did not reproduce on rerun)"
    return (f"### {signature}\n\n```python\n{program.source.rstrip()}\n\n# {program.call_text()}\n```\n"
            f"{details}\n\nfeatures: {', '.join(sorted(program.features)) or '-'}\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--off", default="", help="comma-separated grammar features to switch off")
    p.add_argument("--jit-every", type=int, default=0, help="check jit=True on every k-th program")
    p.add_argument("--no-shrink", action="store_true")
    p.add_argument("--shrink-examples", type=int, default=2000)
    p.add_argument("--out", default=None, help="write the summary and reproducers here (Markdown)")
    a = p.parse_args(argv)
    seed_ = a.seed if a.seed is not None else random.randrange(2 ** 32)
    off = tuple(x for x in a.off.split(",") if x)
    t0 = time.time()
    print(f"seed {seed_}, off {off}", flush=True)
    found = run(a.count, seed_, off, a.jit_every, progress=lambda m: print(m, flush=True))
    print(oracle.STATS.summary(), flush=True)
    print(f"phase 1: {time.time() - t0:.0f} s", flush=True)
    sections = []
    if not a.no_shrink:
        for sig, program in found.items():
            print(f"shrinking: {sig}", flush=True)
            small = shrink(sig, off, a.shrink_examples, jit=sig.startswith("jit"), start=program)
            sections.append(report(sig, small or program))
            print(sections[-1], flush=True)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(f"# fuzz run: seed {seed_}, {a.count} programs, off {off}\n\n```text\n"
                     f"{oracle.STATS.summary()}\n```\n\n" + "\n".join(sections))
    print(f"total: {time.time() - t0:.0f} s")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
