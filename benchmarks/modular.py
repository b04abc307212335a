"""Modular kernels: the same computation written as one function and as small functions
calling each other, differentiated with ``srcgrad.grad(..., jit=True)``.

Issue 14's goal: the modular gradient within 1.1x of the one-function gradient, and its
compile time within 1.5x.  srcgrad lowers calls of your own functions in place, so both
should compile to the same loops.  ``python benchmarks/modular.py`` prints the table that
docs/benchmarks.md shows (ratios measured in one run).  The Lennard-Jones and GMM
one-function versions are the kernels of ``kernels.py``.
"""

from __future__ import annotations

import math
import time
import types

import numba
import numpy as np

import srcgrad
from kernels import LOG_2PI
from kernels import gmm as gmm_one_function                  # the benchmark kernels,
from kernels import lennard_jones as lj_one_function         # written as one function

DT = 0.001


# ------------------------------------------------------------------ RK4 with rhs(t, y, p, out)
def lorenz_rhs(t, y, p, out):
    out[0] = p[0] * (y[1] - y[0])
    out[1] = y[0] * (p[1] - y[2]) - y[1]
    out[2] = y[0] * y[1] - p[2] * y[2]


def rk4_modular(y0, p, n_steps):
    y = y0.copy()
    k1 = np.empty(3)
    k2 = np.empty(3)
    k3 = np.empty(3)
    k4 = np.empty(3)
    for step in range(n_steps):
        t = step * DT
        lorenz_rhs(t, y, p, k1)
        lorenz_rhs(t, y + 0.5 * DT * k1, p, k2)
        lorenz_rhs(t, y + 0.5 * DT * k2, p, k3)
        lorenz_rhs(t, y + DT * k3, p, k4)
        y = y + DT / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return np.sum(y * y)


def rk4_one_function(y0, p, n_steps):
    y = y0.copy()
    k1 = np.empty(3)
    k2 = np.empty(3)
    k3 = np.empty(3)
    k4 = np.empty(3)
    for step in range(n_steps):
        k1[0] = p[0] * (y[1] - y[0])
        k1[1] = y[0] * (p[1] - y[2]) - y[1]
        k1[2] = y[0] * y[1] - p[2] * y[2]
        z = y + 0.5 * DT * k1
        k2[0] = p[0] * (z[1] - z[0])
        k2[1] = z[0] * (p[1] - z[2]) - z[1]
        k2[2] = z[0] * z[1] - p[2] * z[2]
        z = y + 0.5 * DT * k2
        k3[0] = p[0] * (z[1] - z[0])
        k3[1] = z[0] * (p[1] - z[2]) - z[1]
        k3[2] = z[0] * z[1] - p[2] * z[2]
        z = y + DT * k3
        k4[0] = p[0] * (z[1] - z[0])
        k4[1] = z[0] * (p[1] - z[2]) - z[1]
        k4[2] = z[0] * z[1] - p[2] * z[2]
        y = y + DT / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return np.sum(y * y)


# ------------------------------------------------------------------ Lennard-Jones with pair_energy
def pair_energy(r2):
    inv6 = 1.0 / (r2 * r2 * r2)
    return 4.0 * (inv6 * inv6 - inv6)


def lj_modular(X):
    n = X.shape[0]
    e = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            dx = X[i, 0] - X[j, 0]
            dy = X[i, 1] - X[j, 1]
            dz = X[i, 2] - X[j, 2]
            e += pair_energy(dx * dx + dy * dy + dz * dz)
    return e


# ------------------------------------------------------------------ GMM with a logsumexp helper
def logsumexp(v, k):
    mx = v[0]
    for j in range(1, k):
        if v[j] > mx:
            mx = v[j]
    s = 0.0
    for j in range(k):
        s += math.exp(v[j] - mx)
    return mx + math.log(s)


def point_logliks(x, means, logvars, logw, lognorm, lp):
    k, d = means.shape
    for j in range(k):
        acc = logw[j] - lognorm
        for m in range(d):
            diff = x[m] - means[j, m]
            acc -= 0.5 * (logvars[j, m] + diff * diff * math.exp(-logvars[j, m]))
        lp[j] = acc - 0.5 * d * LOG_2PI


def gmm_modular(means, logvars, logw, X):
    k = means.shape[0]
    lognorm = logsumexp(logw, k)
    lp = np.zeros(k)
    total = 0.0
    for p in range(X.shape[0]):
        point_logliks(X[p], means, logvars, logw, lognorm, lp)
        total += logsumexp(lp, k)
    return total


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    n = 300
    m = int(math.ceil(n ** (1.0 / 3.0)))
    grid = np.array([(i, j, k) for i in range(m) for j in range(m) for k in range(m)],
                    dtype=np.float64)[:n]
    X = 1.12 * grid + 0.05 * rng.standard_normal((n, 3))
    means, logvars = rng.standard_normal((25, 10)), 0.3 * rng.standard_normal((25, 10))
    logw, points = 0.5 * rng.standard_normal(25), 1.5 * rng.standard_normal((1000, 10))
    return {
        "rk4 (rhs x4 per step)": (rk4_modular, rk4_one_function,
                                  (np.array([1.0, 1.5, 20.0]), np.array([10.0, 15.0, 8 / 3]), 5000),
                                  (0, 1)),
        "lennard_jones (pair_energy)": (lj_modular, lj_one_function, (X,), (0,)),
        "gmm (logsumexp, per-point helper)": (gmm_modular, gmm_one_function,
                                              (means, logvars, logw, points), (0, 1, 2)),
    }


def _best(f, args, repeat=7):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def _clone(fn):
    """A fresh copy of ``fn`` (same code), so its derivative is transformed and compiled
    again: compile times are measured twice, in both orders."""
    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                              fn.__closure__)


def _first_call(fn, args, wrt):
    df = srcgrad.grad(fn, wrt=wrt, jit=True)
    start = time.perf_counter()
    value = df(*args)
    return time.perf_counter() - start, df, value


def _warm_up():
    """Numba's first compile in a process also loads its own machinery: pay that first."""
    def warm(x):
        s = 0.0
        for i in range(len(x)):
            s = s + x[i] * x[i]
        return s
    srcgrad.grad(warm, jit=True)(np.ones(3))


def measure():
    """Rows: (name, grad modular / one function, compile modular / one function,
    one-function grad / primal)."""
    _warm_up()
    rows = []
    for name, (modular, single, args, wrt) in _inputs().items():
        t_single, d_single, v_single = _first_call(single, args, wrt)
        t_modular, d_modular, v_modular = _first_call(modular, args, wrt)
        t_modular += _first_call(_clone(modular), args, wrt)[0]
        t_single += _first_call(_clone(single), args, wrt)[0]
        for a, b in zip(v_modular, v_single):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        primal = numba.njit(single)
        primal(*args)
        grad_single = _best(d_single, args)
        rows.append((name, _best(d_modular, args) / grad_single, t_modular / t_single,
                     grad_single / _best(primal, args)))
    return rows


def main():
    print("| kernel | modular grad / one-function grad | modular compile / one-function "
          "compile | one-function grad / primal |")
    print("|---|---:|---:|---:|")
    for name, grad_ratio, compile_ratio, primal_ratio in measure():
        print(f"| {name} | {grad_ratio:.2f} | {compile_ratio:.2f} | {primal_ratio:.2f} |")


if __name__ == "__main__":
    main()
