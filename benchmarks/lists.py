"""Cost of lists built at run time: a trajectory kept in a list against one kept in an array.

``python benchmarks/lists.py`` times, with ``jit=True`` and in one process, the gradient
of a simulation that appends each state to a list and stacks it at the end, against the
Numba-compiled primal written with a preallocated array (Numba cannot ``np.stack`` a
list, so that is the fastest primal a user could have), and the gradient of that array
version.  Best of several repeats after a warm-up call.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import srcgrad  # noqa: E402
from benchmarks.second_order import best  # noqa: E402


def trajectory_list(y0, k, h, n):
    """Damped nonlinear oscillators (explicit Euler); every state appended to a list."""
    ys = [y0]
    for i in range(n):
        y = ys[-1]
        ys.append(y + h * (-k * y + np.sin(y)))
    return np.sum(np.stack(ys) ** 2)


def trajectory_array(y0, k, h, n):
    """The same simulation storing the states in a preallocated array."""
    ys = np.empty((n + 1, y0.shape[0]))
    ys[0] = y0
    for i in range(n):
        y = ys[i].copy()
        ys[i + 1] = y + h * (-k * y + np.sin(y))
    return np.sum(ys ** 2)


def energies_list(x, n):
    """Scalars appended in a loop, summed at the end."""
    es = []
    for i in range(n):
        es.append(np.sin(x[i]) * x[i] ** 2)
    return sum(es)


def energies_array(x, n):
    es = np.empty(n)
    for i in range(n):
        es[i] = np.sin(x[i]) * x[i] ** 2
    return np.sum(es)


def main():
    rng = np.random.default_rng(0)
    y0 = rng.standard_normal(64)
    x = rng.standard_normal(100_000)
    cases = [("trajectory 64 x 2000", trajectory_list, trajectory_array, (y0, 0.3, 0.01, 2000)),
             ("scalar list 100000", energies_list, energies_array, (x, x.shape[0]))]
    print(f"{'kernel':<24}{'list grad/primal':>18}{'array grad/primal':>19}{'list/array grad':>17}")
    for name, as_list, as_array, args in cases:
        primal = best(numba.njit(as_array), *args)
        t_list = best(srcgrad.grad(as_list, jit=True), *args)
        t_array = best(srcgrad.grad(as_array, jit=True), *args)
        print(f"{name:<24}{t_list / primal:>18.2f}{t_array / primal:>19.2f}{t_list / t_array:>17.2f}")


if __name__ == "__main__":
    main()
