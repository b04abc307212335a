"""Long fuzzing runs: many random programs, every failure recorded, then each distinct
failure shrunk to a minimal reproducer.

Used by the ``fuzz``-marked test (``python -m pytest -m fuzz --fuzz-count 10000``) and
runnable on its own, e.g. in the background:

    nice -n 10 python -m tests.fuzz.campaign --count 2000 --off helpers,while --out run.md

Phase 1 runs ``count`` programs from a random (printed) seed and records outcomes without
stopping at a failure.  Phase 2 takes each distinct failure signature seen (the kind of
failure, plus the raising location for exceptions) and lets Hypothesis shrink it: the
run is replayed with the same seed (generation is deterministic for a seed) up to the
first program with that signature, which then fails, and Hypothesis' shrinker keeps only
smaller programs failing the same way.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import warnings

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.fuzz import oracle
from tests.fuzz.grammar import programs

SUPPRESS = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]


def _signatures(outcome, refusals: bool) -> list[str]:
    """Failure signatures, and with ``refusals`` also "refused <stage: message>" ones."""
    return outcome.signatures + ([f"refused {r}" for r in outcome.refusals] if refusals else [])


def run(count: int, seed_: int, off=(), jit_every: int = 0, stats=None, progress=None,
        refusals: bool = False):
    """Phase 1: ``count`` programs, outcomes recorded in ``stats`` (default oracle.STATS).

    Returns {signature: (index, first failing program)}.  ``jit_every=k`` also checks
    jit=True on every k-th program (0: never); helper calls are refused under jit, as
    documented, so programs with helpers are not jit-checked.
    """
    stats = stats or oracle.STATS
    found: dict[str, tuple] = {}
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
        for sig in _signatures(outcome, refusals):
            found.setdefault(sig, (n[0], program))
        if progress and n[0] % 250 == 0:
            progress(f"{n[0]} programs, {stats.status.get('fail', 0)} failing, "
                     f"{len(found)} distinct failures")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one()
    return found


class _Target(Exception):
    pass


def shrink(signature: str, seed_: int, index: int, count: int, off=(), start=None,
           budget: float = 120.0):
    """Phase 2: the smallest program failing with ``signature``, by Hypothesis' shrinker.

    Replays phase 1's run (same seed, so the same programs) without checking anything
    up to program ``index``, which failed with ``signature``; from there Hypothesis
    shrinks, keeping only programs that still fail the same way, for about ``budget``
    seconds.  Returns ``start`` when the replay does not reach the same failure.
    """
    n = [0]
    last = [None]
    diverged = [False]
    verdicts: dict[str, bool] = {}
    deadline = time.time() + budget

    @seed(seed_)
    @settings(max_examples=count, database=None, deadline=None, derandomize=False,
              suppress_health_check=SUPPRESS, phases=[Phase.generate, Phase.shrink],
              report_multiple_bugs=False, print_blob=False)
    @given(programs(off=off))
    def one(program):
        n[0] += 1
        if n[0] < index or diverged[0]:
            return                                  # replaying phase 1, up to the failure
        if n[0] == index and start is not None and program.digest != start.digest:
            diverged[0] = True                      # not the same run: give up quietly
            return
        key = program.digest
        if key not in verdicts:             # past the time budget, new programs "pass":
            verdicts[key] = time.time() < deadline and _still_fails(program, signature)
        if verdicts[key]:                   # the shrinker stops, the best one still fails
            last[0] = program
            raise _Target(signature)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            one()
        except _Target:
            return last[0]
    return start


def _still_fails(program, signature: str) -> bool:
    jit = signature.startswith(("jit", "refused jit"))
    outcome = oracle.check(program, jit=jit, record=False)
    return signature in _signatures(outcome, signature.startswith("refused "))


def _top_level_terms(expr: str) -> list[str]:
    """``a + b * (c + d) + e`` -> ['a', 'b * (c + d)', 'e'] (splits at depth-0 ' + ')."""
    terms, depth, start = [], 0, 0
    for k, ch in enumerate(expr):
        depth += ch in "([" and 1 or (ch in ")]" and -1 or 0)
        if depth == 0 and expr.startswith(" + ", k):
            terms.append(expr[start:k])
            start = k + 3
    return terms + [expr[start:]]


def _block_end(lines: list[str], i: int) -> int:
    """One past the last line of the statement starting at line i (its body included)."""
    indent = len(lines[i]) - len(lines[i].lstrip())
    j = i + 1
    while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
        j += 1
    return j


def _candidates(lines: list[str]):
    """Smaller sources: a statement (with its body) replaced by ``pass``, a ``pass`` next
    to other statements dropped, a module-level definition dropped, a term of a
    ``return a + b`` dropped, a compound statement replaced by its body."""
    for i in reversed(range(len(lines))):
        line = lines[i]
        stripped = line.strip()
        indent = line[:len(line) - len(stripped)]
        if not stripped or stripped.startswith(("import ", "def f(")):
            continue
        end = _block_end(lines, i)
        if not indent:                                  # a global or a helper
            yield lines[:i] + lines[end:]
            continue
        if stripped.startswith("def "):
            continue
        if stripped == "pass":
            yield lines[:i] + lines[i + 1:]
            continue
        if stripped.startswith(("elif ", "else:")):
            yield lines[:i] + lines[end:]
            continue
        if not stripped.startswith("return "):
            yield lines[:i] + [indent + "pass"] + lines[end:]
        else:
            terms = _top_level_terms(stripped[len("return "):])
            for k in range(len(terms)):
                if len(terms) > 1:
                    yield lines[:i] + [indent + "return " + " + ".join(terms[:k] + terms[k + 1:])] + lines[end:]
        if stripped.endswith(":") and stripped.startswith(("if ", "for ", "while ")):
            body = [ln[4:] for ln in lines[i + 1:end]]
            if not any(ln.strip().startswith(("elif ", "else:")) for ln in lines[end:end + 1]):
                yield lines[:i] + body + lines[end:]


def _tidy(lines: list[str]) -> str:
    """PEP 8 blank lines: one after the imports, two before each module-level def."""
    out = []
    for line in (ln for ln in lines if ln.strip()):
        if line.startswith("def ") or (out and out[-1].startswith("import ")):
            out += [""] * (2 if line.startswith("def ") else 1)
        out.append(line)
    return "\n".join(out) + "\n"


def reduce_source(program, signature: str, budget: int = 400):
    """A line-level reducer after Hypothesis' shrinker: greedily drops statements, dead
    definitions and result terms while the program still fails with ``signature``
    (a program that no longer runs in Python fails differently, so is never kept)."""
    from tests.fuzz.grammar import Program
    current = program
    tries = 0
    changed = True
    while changed and tries < budget:
        changed = False
        lines = current.source.rstrip("\n").split("\n")
        for cand in _candidates(lines):
            tries += 1
            trial = Program(_tidy(cand), current.params, current.arg_values,
                            current.features, current.fname)
            try:
                compile(trial.source, "<reduce>", "exec")
            except SyntaxError:
                continue
            if _still_fails(trial, signature):
                current, changed = trial, True
                break
            if tries >= budget:
                break
    return current


def report(signature: str, program) -> str:
    """A reproducer as Markdown: the program, the call and what went wrong."""
    jit = signature.startswith(("jit", "refused jit"))
    out = oracle.check(program, jit=jit, record=False)
    details = "\n".join([f"- {f}" for f in out.failures if oracle.signature(f) == signature]
                        + [f"- refused: {r}" for r in out.refusals if signature == f"refused {r}"]) \
        or "- (did not reproduce on rerun)"
    return (f"### {signature}\n\n```python\n{program.source.rstrip()}\n\n# {program.call_text()}\n```\n"
            f"{details}\n\nfeatures: {', '.join(sorted(program.features)) or '-'}\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--off", default="", help="comma-separated grammar features to switch off")
    p.add_argument("--jit-every", type=int, default=0, help="check jit=True on every k-th program")
    p.add_argument("--no-shrink", action="store_true")
    p.add_argument("--refusals", action="store_true",
                   help="also shrink one minimal program per distinct refusal message")
    p.add_argument("--out", default=None, help="write the summary and reproducers here (Markdown)")
    a = p.parse_args(argv)
    seed_ = a.seed if a.seed is not None else random.randrange(2 ** 32)
    off = tuple(x for x in a.off.split(",") if x)
    t0 = time.time()
    print(f"seed {seed_}, off {off}", flush=True)
    found = run(a.count, seed_, off, a.jit_every, progress=lambda m: print(m, flush=True),
                refusals=a.refusals)
    print(oracle.STATS.summary(), flush=True)
    print(f"phase 1: {time.time() - t0:.0f} s", flush=True)
    sections = []
    if not a.no_shrink:
        for sig, (index, program) in found.items():
            print(f"shrinking: {sig}", flush=True)
            small = shrink(sig, seed_, index, a.count, off, start=program)
            small = reduce_source(small or program, sig)
            sections.append(report(sig, small or program))
            print(sections[-1], flush=True)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(f"# fuzz run: seed {seed_}, {a.count} programs, off {off}\n\n```text\n"
                     f"{oracle.STATS.summary()}\n```\n\n" + "\n".join(sections))
    print(f"total: {time.time() - t0:.0f} s")
    return 1 if any(not sig.startswith("refused ") for sig in found) else 0


if __name__ == "__main__":
    sys.exit(main())
