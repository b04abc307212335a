"""Start-up of a second process that finds srcgrad's disk cache.

Runs the same script twice in fresh processes with an empty cache directory
(``SRCGRAD_CACHE_DIR``): the first transforms and compiles, the second should import the
cached derivative and Numba's cached machine code.  Prints, for each run, the whole
process wall time and the time from the imports to the first gradient; for reference,
the same for a process that only calls the cached primal (Numba's own start-up cost).

    python benchmarks/cache_start.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import time
t0 = time.perf_counter()
import numba, numpy as np, srcgrad
from benchmarks import kernels as K
kern = K.KERNELS[{name!r}]
args, _ = K.make_inputs({name!r}, True)
wrt = kern.wrt if len(kern.wrt) > 1 else kern.wrt[0]
f = numba.njit(cache=True)(kern.primal)
if {primal_only!r}:
    f(*args)
else:
    srcgrad.grad(f, wrt=wrt)(*args)
print(time.perf_counter() - t0)
"""


def run(name: str, cache: str, primal_only: bool = False) -> tuple[float, float]:
    env = dict(os.environ, SRCGRAD_CACHE_DIR=cache, NUMBA_CACHE_DIR=cache,
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(name=name, primal_only=primal_only)], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return time.perf_counter() - start, float(out.stdout.strip().splitlines()[-1])


def main():
    print("| kernel | first process: wall / import-to-gradient | second process: wall / "
          "import-to-gradient | cached primal alone: wall / import-to-value |")
    print("|---|---:|---:|---:|")
    for name in ("rosenbrock", "rk4", "heat"):
        with tempfile.TemporaryDirectory() as cache:
            cold = run(name, cache)
            warm = run(name, cache)
            run(name, cache, primal_only=True)
            primal = run(name, cache, primal_only=True)
        print(f"| {name} | {cold[0]:.2f} s / {cold[1]:.2f} s | {warm[0]:.2f} s / {warm[1]:.2f} s "
              f"| {primal[0]:.2f} s / {primal[1]:.2f} s |")


if __name__ == "__main__":
    main()
