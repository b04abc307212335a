"""Derivatives are safe to build and call from many threads.

Building a derivative of a function with loops runs Numba's type inference; a jit
derivative runs Numba's compiler.  Both share Numba's state, so srcgrad types under
Numba's compiler lock and builds under its own lock taken first.  Threads mixing the two
deadlocked (2 of 3 runs of this test before the fix, and the runs that finished could
fail to compile: "Untyped global name 'stack'"); the test runs in a subprocess with a
timeout so a hang fails, not blocks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import srcgrad
from tests.helpers import numeric_grad

MIXED = textwrap.dedent("""
    import sys, threading, faulthandler
    import numpy as np, srcgrad

    faulthandler.dump_traceback_later(150, exit=True)   # a hang prints every stack

    def while_loop(x):
        s = 0.0
        i = 0
        while i < len(x):
            s = s * 0.9 + np.sin(x[i])
            i += 1
        return s

    def while_condition(x):
        s = x[0]
        k = 0
        while s < 10.0 and k < 50:
            s = s * 1.5 + x[1]
            k += 1
        return s

    def scalar_loop(x):
        s = 0.0
        for i in range(len(x)):
            s = s * 0.5 + np.cos(x[i]) * x[i]
        return s

    def in_place(x):
        y = x.copy()
        for i in range(1, len(x)):
            y[i] = y[i - 1] * 0.3 + np.tanh(x[i])
        return np.sum(y * y)

    def nested(x):
        s = 0.0
        for i in range(len(x)):
            for j in range(i):
                s = s + x[i] * x[j] * 0.1
        return s

    def branch_in_loop(x):
        t = 0.0
        for i in range(len(x)):
            if x[i] > 0:
                t = t + x[i] ** 2
            else:
                t = t - x[i] * 0.5
        return t

    FUNCS = [while_loop, while_condition, scalar_loop, in_place, nested, branch_in_loop]

    def numeric(f, x, eps=1e-6):
        out = np.zeros_like(x)
        for j in range(len(x)):
            xp, xm = x.copy(), x.copy()
            xp[j] += eps
            xm[j] -= eps
            out[j] = (f(xp) - f(xm)) / (2 * eps)
        return out

    x = np.linspace(-0.8, 0.9, 6)
    barrier = threading.Barrier(8)
    failures = []

    def work(k):
        try:
            barrier.wait()
            for j in range(len(FUNCS)):
                f = FUNCS[(k + j) % len(FUNCS)]
                jit = k % 2 == 1
                value, g = srcgrad.value_and_grad(f, jit=jit)(x)
                if abs(value - f(x)) > 1e-12 * abs(f(x)) or not np.allclose(g, numeric(f, x), rtol=1e-6, atol=1e-8):
                    failures.append((k, f.__name__, jit, value, f(x)))
        except BaseException as exc:
            failures.append((k, repr(exc)[:300]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("failures", failures)
    sys.exit(1 if failures else 0)
""")


def test_eight_threads_mixing_jit_compiles_and_loop_gradients(tmp_path):
    pytest.importorskip("numba")
    script = tmp_path / "mixed.py"
    script.write_text(MIXED)
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    try:
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=200)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"threads deadlocked: {exc.stderr}")
    assert out.returncode == 0, out.stdout + out.stderr[-4000:]
    assert "failures []" in out.stdout


LAM = 2.0


def shared(x):
    s = 0.0
    for i in range(len(x)):
        s = s + np.cos(x[i]) * LAM
    return s


def test_one_derivative_called_from_many_threads():
    """Sharing one derivative object (and its transform cache) between threads."""
    x = np.linspace(0.1, 1.2, 5)
    d = srcgrad.value_and_grad(shared)
    expected = numeric_grad(shared, (x,), 0)
    results, errors = [], []

    def work():
        try:
            for _ in range(20):
                results.append(d(x))
        except BaseException as exc:          # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "threads hung"
    assert not errors, errors
    assert len(results) == 160
    for value, g in results:
        assert value == pytest.approx(shared(x), rel=1e-12)
        np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-8)
