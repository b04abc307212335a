"""Second-order cost: Hessian-vector products (forward over reverse) against gradients.

``python benchmarks/second_order.py`` times, with ``jit=True`` and in one process, the
compiled primal, ``grad``, ``hvp`` (one jvp of the generated gradient) and the vjp of the
gradient (reverse over reverse) for the benchmark kernels that take one array, and prints
the ratios hvp / grad and hvp / primal.  Best of several repeats after a warm-up call.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import srcgrad  # noqa: E402
from benchmarks.kernels import lennard_jones, make_inputs, rosenbrock  # noqa: E402


def best(fn, *args, repeat=7):
    fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    print(f"{'kernel':<22}{'grad/primal':>12}{'hvp/primal':>12}{'hvp/grad':>10}{'rev-rev/grad':>14}")
    for fn, name in ((rosenbrock, "rosenbrock"), (lennard_jones, "lennard_jones")):
        args, size = make_inputs(name, quick=False)
        x = args[0]
        v = np.random.default_rng(0).standard_normal(x.shape)
        primal = best(numba.njit(fn), *args)
        gradient = srcgrad.grad(fn, jit=True)
        t_grad = best(gradient, *args)
        t_hvp = best(srcgrad.hvp(fn, jit=True), *args, v)
        _, pullback = srcgrad.vjp(srcgrad.grad(fn), *args, jit=True)
        t_rr = best(pullback, v)
        print(f"{name + ' ' + size:<22}{t_grad / primal:>12.2f}{t_hvp / primal:>12.2f}{t_hvp / t_grad:>10.2f}"
              f"{t_rr / t_grad:>14.2f}")


if __name__ == "__main__":
    main()
