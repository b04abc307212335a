"""Golden tests: the generated derivative source of a few small functions, checked in.

The code generator is deterministic (same function, same text), so any change to the
text shows up here as a readable diff.  When a change to the generator is intended,
regenerate the files and review the diff before committing:

    SRCGRAD_UPDATE_GOLDEN=1 python -m pytest -q tests/test_golden.py
"""

import difflib
import io
import os
from pathlib import Path

import numpy as np
import pytest

import srcgrad
from golden_functions import CASES, STAGES

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("SRCGRAD_UPDATE_GOLDEN") == "1"


def generated_source(fn, wrt, args) -> str:
    df = srcgrad.grad(fn, wrt=wrt)
    df(*args)                            # specialise for these argument kinds
    buffer = io.StringIO()
    srcgrad.show(df, file=buffer)
    return buffer.getvalue()


def generated_stage(fn, wrt, args, view) -> str:
    buffer = io.StringIO()
    if view == "jvp":
        srcgrad.jvp(fn, args, args)
        srcgrad.show(fn, mode="forward", file=buffer)
    elif view == "grad2":
        ddf = srcgrad.grad(srcgrad.grad(fn, wrt=wrt), wrt=wrt)
        ddf(*args)
        srcgrad.show(ddf, file=buffer)
    else:
        df = srcgrad.grad(fn, wrt=wrt)
        df(*args)
        srcgrad.show(df, stage=view, file=buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("name, fn, wrt, args", CASES, ids=[c[0] for c in CASES])
def test_generated_source_matches_golden(name, fn, wrt, args):
    _compare(name, generated_source(fn, wrt, args))


@pytest.mark.parametrize("name, fn, wrt, args, view", STAGES, ids=[c[0] for c in STAGES])
def test_other_stages_match_golden(name, fn, wrt, args, view):
    """The IR text, forward mode and a second-order program, checked in like the source."""
    _compare(name, generated_stage(fn, wrt, args, view))


def _compare(name, text):
    path = GOLDEN_DIR / f"{name}.txt"
    if UPDATE:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing; create it with SRCGRAD_UPDATE_GOLDEN=1"
    expected = path.read_text()
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            f"golden/{name}.txt", "generated"))
        pytest.fail(f"the generated source of {name} changed:\n{diff}\n"
                    f"If the change is intended, regenerate with SRCGRAD_UPDATE_GOLDEN=1 "
                    f"and review the diff.")


@pytest.mark.parametrize("name, fn, wrt, args", CASES, ids=[c[0] for c in CASES])
def test_golden_functions_gradients_are_right(name, fn, wrt, args):
    """The checked-in code is also correct code: compare with central differences."""
    rng = np.random.default_rng(1)
    args = [rng.standard_normal(np.shape(a)) if isinstance(a, np.ndarray) else float(a)
            for a in args]
    grads = srcgrad.grad(fn, wrt=wrt)(*args)
    eps = 1e-6
    for g, i in zip(grads, wrt):
        x = np.asarray(args[i], dtype=float)
        for k in np.ndindex(x.shape):
            plus, minus = list(args), list(args)
            xp, xm = x.copy(), x.copy()
            xp[k] += eps
            xm[k] -= eps
            plus[i] = xp if x.ndim else float(xp)
            minus[i] = xm if x.ndim else float(xm)
            estimate = (fn(*plus) - fn(*minus)) / (2 * eps)
            assert np.isclose(np.asarray(g)[k], estimate, rtol=1e-5, atol=1e-7), (name, i, k)
