"""Benchmark srcgrad's Numba-compiled gradients against Numba primals and hand adjoints.

    python benchmarks/run.py            # full sizes (about 20 s)
    python benchmarks/run.py --quick    # small sizes, short timing budget (smoke run, < 60 s)
    python benchmarks/run.py --only heat --show   # one kernel, and print srcgrad's code

Everything is measured in one process.  Per kernel (see benchmarks/kernels.py):

1. cold times: the first call of a fresh ``numba.njit`` dispatcher of the primal
   (compile + one run), the first call of ``srcgrad.grad(primal, wrt, jit=True)``
   (source transform + Numba compile + one run), and the first call of the hand-written
   adjoint (compile + one run).  One-time process costs (LLVM start-up, importing
   srcgrad's Numba backend) are paid beforehand by a trivial warm-up and printed apart.
2. checks: srcgrad's value and gradients against the hand-written adjoint (rtol 1e-8),
   and the hand-written adjoint against central differences of the primal on a few
   random coordinates.  A failure is printed loudly and marked in the table.
3. warm times: best of N calls after a warm-up, N >= 5 and until ~0.5 s was spent
   (0.1 s with --quick), with time.perf_counter.

The srcgrad gradient is timed through the public callable (``df(*args)``), which adds
~10 µs of Python argument checking and result casting around the compiled code; the
column ``srcgrad core`` times the compiled Numba dispatcher alone (reached through
``Derivative.compile``; "n/a" if that changes), for comparison.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (ROOT, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

import numba  # noqa: E402
import numpy as np  # noqa: E402

import srcgrad  # noqa: E402
import kernels as K  # noqa: E402

RTOL = 1e-8          # srcgrad vs hand-written adjoint
FD_TOL = 1e-4        # hand-written adjoint vs central differences (see kernels.fd_check)


# --------------------------------------------------------------------------- timing
def best_time(fn, args, min_time, min_runs=5, warmup=1):
    """Best wall time of fn(*args) over at least min_runs calls and ~min_time seconds."""
    for _ in range(warmup):
        fn(*args)
    best = math.inf
    runs = 0
    start = time.perf_counter()
    while runs < min_runs or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn(*args)
        t1 = time.perf_counter()
        best = min(best, t1 - t0)
        runs += 1
        if runs >= 10_000:
            break
    return best, runs


def cold_time(fn, args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def fmt_t(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds:.3f} s"


def fmt_r(x):
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.2f}"


def geomean(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x) and x > 0]
    if not xs:
        return float("nan")
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


# --------------------------------------------------------------------------- checks
def as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


def compare(got, want, rtol=RTOL):
    """(ok, worst relative error) between two gradient tuples.

    Elementwise |got - want| <= rtol * |want| + atol with a tiny atol (1e-12 of the
    largest entry of that gradient) so that entries that cancel to ~0 do not count.
    """
    ok = True
    worst = 0.0
    for a, b in zip(got, want):
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            return False, math.inf
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        atol = 1e-12 * scale
        err = np.abs(a - b)
        if not np.all(err <= rtol * np.abs(b) + atol):
            ok = False
        rel = err / np.maximum(np.abs(b), max(atol, 1e-300))
        worst = max(worst, float(np.max(rel)) if rel.size else 0.0)
    return ok, worst


# --------------------------------------------------------------------------- per kernel
def srcgrad_core(df, args):
    """The compiled Numba dispatcher behind df, called as f(*args, seed); None if unknown."""
    try:
        compiled = df.compile(*args)
        dispatcher = compiled.function.dispatcher
    except Exception:
        return None
    return lambda *a: dispatcher(*a, 1.0)


def first_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def run_kernel(name, quick, min_time, show):
    kern = K.KERNELS[name]
    args, size = K.make_inputs(name, quick)
    wrt = kern.wrt if len(kern.wrt) > 1 else kern.wrt[0]
    row = {"name": name, "size": size, "problems": [], "error": None}

    # ---- cold: fresh dispatchers / first derivative of this function in the process
    primal = numba.njit(kern.primal)
    row["cold_primal"], value = cold_time(primal, args)

    df = srcgrad.grad(kern.primal, wrt=wrt, jit=True)
    row["cold_transform"] = None
    try:
        t0 = time.perf_counter()
        if hasattr(df, "compile"):
            # the same work as the first df(*args), split in two: the source transform
            # (Derivative.compile, which caches it), then the call that compiles the
            # generated code with Numba and runs it once
            df.compile(*args)
            row["cold_transform"] = time.perf_counter() - t0
        grads = as_tuple(df(*args))
        row["cold_grad"] = time.perf_counter() - t0
    except srcgrad.SrcgradError as exc:
        row["cold_grad"] = None
        row["error"] = exc
        grads = None
    except Exception as exc:            # not a SrcgradError: a bug, report it as such
        row["cold_grad"] = None
        row["error"] = exc
        row["problems"].append("srcgrad raised a non-SrcgradError:\n" + traceback.format_exc())
        grads = None

    row["cold_hand"], (hand_value, hand_grads) = cold_time(kern.adjoint, args)

    # ---- checks
    if not np.isclose(hand_value, value, rtol=1e-10, atol=0.0):
        row["problems"].append(f"hand adjoint value {hand_value!r} != primal {value!r}")
    fd_err = K.fd_check(kern, args, primal, hand_grads)
    row["fd_err"] = fd_err
    if not fd_err <= FD_TOL:
        row["problems"].append(f"hand adjoint disagrees with central differences "
                               f"(scaled error {fd_err:.2e} > {FD_TOL:g})")
    if grads is not None:
        ok, worst = compare(grads, hand_grads)
        row["agree"] = worst
        if not ok:
            row["problems"].append(f"srcgrad gradient != hand-written adjoint: worst relative "
                                   f"error {worst:.3e} > rtol {RTOL:g}")
        # the value the public callable computes, through value_and_grad's code path
        core = srcgrad_core(df, args)
        if core is not None:
            sg_value = core(*args)[0]
            if not np.isclose(sg_value, value, rtol=1e-10, atol=0.0):
                row["problems"].append(f"srcgrad value {sg_value!r} != primal {value!r}")
    else:
        row["agree"] = None

    # ---- warm timings
    row["t_primal"], row["n_primal"] = best_time(primal, args, min_time)
    row["t_hand"], _ = best_time(kern.adjoint, args, min_time)
    row["t_grad"] = row["t_core"] = None
    if grads is not None:
        row["t_grad"], _ = best_time(df, args, min_time)
        core = srcgrad_core(df, args)
        if core is not None:
            row["t_core"], _ = best_time(core, args, min_time)
        if show:
            print(f"\n# ---- srcgrad.show for {name} ({size})")
            srcgrad.show(df)
    return row


# --------------------------------------------------------------------------- report
def process_warmup():
    """Pay one-time costs (LLVM init, srcgrad's Numba backend import) before measuring."""
    def tiny(x):
        s = 0.0
        for i in range(len(x)):
            s += x[i] * x[i]
        return s

    x = np.ones(3)
    t_numba, _ = cold_time(numba.njit(tiny), (x,))
    t_srcgrad, _ = cold_time(srcgrad.grad(tiny, jit=True), (x,))
    return t_numba, t_srcgrad


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and a short timing budget")
    ap.add_argument("--only", nargs="*", choices=list(K.KERNELS), help="run these kernels only")
    ap.add_argument("--min-time", type=float, default=None,
                    help="seconds of timing per measurement (default 0.5, 0.1 with --quick)")
    ap.add_argument("--show", action="store_true", help="print srcgrad's generated adjoints")
    opts = ap.parse_args(argv)
    min_time = opts.min_time if opts.min_time is not None else (0.1 if opts.quick else 0.5)
    names = opts.only or list(K.KERNELS)

    wall = time.perf_counter()
    # cold means cold: should srcgrad's disk cache of compiled derivatives be on for these
    # functions, point it at an empty directory for this run
    cache_tmp = tempfile.mkdtemp(prefix="srcgrad-bench-cache-")
    os.environ["SRCGRAD_CACHE_DIR"] = cache_tmp
    try:
        return _main(opts, names, min_time, wall)
    finally:
        shutil.rmtree(cache_tmp, ignore_errors=True)


def provenance():
    """git commit of the srcgrad tree being measured, and whether srcgrad/ has local edits."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "srcgrad"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "git state unknown"
    if not head:
        return "git state unknown"
    return f"commit {head}" + (" + uncommitted changes in srcgrad/" if dirty else "")


def _main(opts, names, min_time, wall):
    print(f"srcgrad {srcgrad.__version__} ({provenance()}), numba {numba.__version__}, "
          f"numpy {np.__version__}, python {sys.version.split()[0]}; "
          f"{'quick' if opts.quick else 'full'} sizes, best of >=5 runs / {min_time:g} s "
          f"after warm-up")
    t_numba, t_srcgrad = process_warmup()
    print(f"one-time process warm-up (not in the numbers below): first njit compile "
          f"{fmt_t(t_numba)}, first srcgrad jit gradient {fmt_t(t_srcgrad)}")

    rows = [run_kernel(n, opts.quick, min_time, opts.show) for n in names]

    print()
    print("## Run time (warm, best of N)")
    print()
    print("| kernel | size | Numba primal | srcgrad grad | grad / primal | hand adjoint "
          "| hand / primal | srcgrad / hand | srcgrad core | check |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        tp, th, tg, tc = r["t_primal"], r["t_hand"], r["t_grad"], r["t_core"]
        if r["error"] is not None:
            grad_cells = [f"**{first_line(r['error'])}**", "—"]
            ratio_sh = "—"
        else:
            grad_cells = [fmt_t(tg), fmt_r(tg / tp)]
            ratio_sh = fmt_r(tg / th)
        check = "ok" if not r["problems"] and r["error"] is None else (
            "**MISMATCH**" if any("!=" in p for p in r["problems"]) else "**FAIL**")
        if r["agree"] is not None and check == "ok":
            check = f"ok ({r['agree']:.0e})"
        print(f"| {r['name']} | {r['size']} | {fmt_t(tp)} | {grad_cells[0]} | {grad_cells[1]} "
              f"| {fmt_t(th)} | {fmt_r(th / tp)} | {ratio_sh} | {fmt_t(tc)} | {check} |")
    good = [r for r in rows if r["error"] is None]
    gm_grad = geomean([r["t_grad"] / r["t_primal"] for r in good])
    gm_hand = geomean([r["t_hand"] / r["t_primal"] for r in rows])
    gm_sh = geomean([r["t_grad"] / r["t_hand"] for r in good])
    print(f"| **geometric mean** ({len(good)} of {len(rows)}) | | | | **{fmt_r(gm_grad)}** | | "
          f"{fmt_r(gm_hand)} | {fmt_r(gm_sh)} | | |")

    print()
    print("## Cold start (first call in this process: compile + one run)")
    print()
    print("| kernel | Numba primal | srcgrad first gradient | cold grad / cold primal "
          "| of which srcgrad transform | of which Numba compile + run | hand adjoint |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cg, ct = r["cold_grad"], r["cold_transform"]
        rest = (cg - ct) if cg is not None and ct is not None else None
        print(f"| {r['name']} | {fmt_t(r['cold_primal'])} | {fmt_t(cg)} | "
              f"{fmt_r(cg / r['cold_primal']) if cg is not None else '—'} | "
              f"{fmt_t(ct)} | {fmt_t(rest)} | {fmt_t(r['cold_hand'])} |")
    cold = [r for r in rows if r["cold_grad"] is not None]
    if cold:
        tp = sum(r["cold_primal"] for r in cold)
        tg = sum(r["cold_grad"] for r in cold)
        print(f"| **total** ({len(cold)}) | {fmt_t(tp)} | {fmt_t(tg)} | {fmt_r(tg / tp)} | | | |")
    print()
    print("Each cold time includes one run of the kernel (see the warm times above).")
    print("Hand adjoints vs central differences (scaled max error): " + ", ".join(
        f"{r['name']} {r['fd_err']:.1e}" for r in rows))

    failures = [r for r in rows if r["error"] is not None or r["problems"]]
    if failures:
        print()
        print("!" * 78)
        for r in failures:
            if r["error"] is not None:
                print(f"!!! srcgrad FAILED on {r['name']}:")
                print("    " + str(r["error"]).replace("\n", "\n    "))
            for p in r["problems"]:
                print(f"!!! {r['name']}: {p}")
        print("!" * 78)
    print(f"\ntotal benchmark wall time {time.perf_counter() - wall:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
