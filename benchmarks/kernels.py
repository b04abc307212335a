"""Five benchmark kernels: plain-loop primals and hand-written Numba adjoints.

Each primal is an undecorated Python function written as loop code, so that the harness
(benchmarks/run.py) can compile it with ``numba.njit`` and differentiate it with
``srcgrad.grad(..., jit=True)``.  The primals are self-contained: no calls to other
user functions, only operators, ``math.*`` and ``np.*``.

Each ``*_adjoint`` is a hand-written reverse-mode derivative compiled with
``@numba.njit``.  It returns ``(value, gradients)`` where ``gradients`` is a tuple with
one array per differentiated argument, in the order of ``KERNELS[...].wrt``.  They
follow the usual hand-adjoint recipe: run the forward sweep, keep what the reverse sweep
needs in arrays allocated once up front (or recompute it where that is cheaper), then
run the loops backwards accumulating adjoints.  ``python benchmarks/kernels.py [--full]``
checks them against central differences.

Sizes are chosen by ``make_inputs(name, quick)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

# RK4 time step (read as a global by the primal; srcgrad inlines numeric globals).
DT = 0.001
LOG_2PI = math.log(2.0 * math.pi)


# =============================================================================== 1. Rosenbrock
def rosenbrock(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


@numba.njit(cache=False)
def rosenbrock_adjoint(x):
    # x is only read, so nothing needs storing.  The reverse sweep is written in gather
    # form, dS/dx_i = 200 t_{i-1} - 400 t_i x_i - 2 (1 - x_i) with t_i = x_{i+1} - x_i^2,
    # recomputing the two terms that touch x_i: no scattered `g[i+1] +=` updates, so the
    # loop has no memory dependence between iterations and vectorizes.
    n = len(x)
    g = np.empty(n)
    s = 0.0
    for i in range(n - 1):
        t = x[i + 1] - x[i] ** 2
        u = 1.0 - x[i]
        s += 100.0 * t * t + u * u
    g[0] = -400.0 * (x[1] - x[0] ** 2) * x[0] - 2.0 * (1.0 - x[0])
    for i in range(1, n - 1):
        g[i] = (200.0 * (x[i] - x[i - 1] ** 2) - 400.0 * (x[i + 1] - x[i] ** 2) * x[i]
                - 2.0 * (1.0 - x[i]))
    g[n - 1] = 200.0 * (x[n - 1] - x[n - 2] ** 2)
    return s, (g,)


# =============================================================================== 2. RK4 (Lorenz)
def rk4(y0, p, n_steps):
    a = y0[0]
    b = y0[1]
    c = y0[2]
    sigma = p[0]
    rho = p[1]
    beta = p[2]
    for step in range(n_steps):
        k1a = sigma * (b - a)
        k1b = a * (rho - c) - b
        k1c = a * b - beta * c
        a2 = a + 0.5 * DT * k1a
        b2 = b + 0.5 * DT * k1b
        c2 = c + 0.5 * DT * k1c
        k2a = sigma * (b2 - a2)
        k2b = a2 * (rho - c2) - b2
        k2c = a2 * b2 - beta * c2
        a3 = a + 0.5 * DT * k2a
        b3 = b + 0.5 * DT * k2b
        c3 = c + 0.5 * DT * k2c
        k3a = sigma * (b3 - a3)
        k3b = a3 * (rho - c3) - b3
        k3c = a3 * b3 - beta * c3
        a4 = a + DT * k3a
        b4 = b + DT * k3b
        c4 = c + DT * k3c
        k4a = sigma * (b4 - a4)
        k4b = a4 * (rho - c4) - b4
        k4c = a4 * b4 - beta * c4
        a = a + DT / 6.0 * (k1a + 2.0 * k2a + 2.0 * k3a + k4a)
        b = b + DT / 6.0 * (k1b + 2.0 * k2b + 2.0 * k3b + k4b)
        c = c + DT / 6.0 * (k1c + 2.0 * k2c + 2.0 * k3c + k4c)
    return a * a + b * b + c * c


@numba.njit(cache=False)
def rk4_adjoint(y0, p, n_steps):
    # Forward: store the four stage states (y, y2, y3, y4) of every step in one
    # preallocated (n_steps, 12) array.  Reverse: pull the adjoint back through the
    # stages of each step, last stage first.  The Lorenz right-hand side
    # f(a, b, c) = (s(b-a), a(r-c)-b, ab - beta c) has transposed Jacobian
    #   [ -s    r-c    b  ]
    #   [  s    -1     a  ]
    #   [  0    -a   -beta]
    # and the parameters enter as s (b-a), r a and -beta c in the three components.
    sigma = p[0]
    rho = p[1]
    beta = p[2]
    dt = DT
    S = np.empty((n_steps, 12))
    a = y0[0]
    b = y0[1]
    c = y0[2]
    for step in range(n_steps):
        k1a = sigma * (b - a)
        k1b = a * (rho - c) - b
        k1c = a * b - beta * c
        a2 = a + 0.5 * dt * k1a
        b2 = b + 0.5 * dt * k1b
        c2 = c + 0.5 * dt * k1c
        k2a = sigma * (b2 - a2)
        k2b = a2 * (rho - c2) - b2
        k2c = a2 * b2 - beta * c2
        a3 = a + 0.5 * dt * k2a
        b3 = b + 0.5 * dt * k2b
        c3 = c + 0.5 * dt * k2c
        k3a = sigma * (b3 - a3)
        k3b = a3 * (rho - c3) - b3
        k3c = a3 * b3 - beta * c3
        a4 = a + dt * k3a
        b4 = b + dt * k3b
        c4 = c + dt * k3c
        k4a = sigma * (b4 - a4)
        k4b = a4 * (rho - c4) - b4
        k4c = a4 * b4 - beta * c4
        S[step, 0] = a
        S[step, 1] = b
        S[step, 2] = c
        S[step, 3] = a2
        S[step, 4] = b2
        S[step, 5] = c2
        S[step, 6] = a3
        S[step, 7] = b3
        S[step, 8] = c3
        S[step, 9] = a4
        S[step, 10] = b4
        S[step, 11] = c4
        a = a + dt / 6.0 * (k1a + 2.0 * k2a + 2.0 * k3a + k4a)
        b = b + dt / 6.0 * (k1b + 2.0 * k2b + 2.0 * k3b + k4b)
        c = c + dt / 6.0 * (k1c + 2.0 * k2c + 2.0 * k3c + k4c)
    value = a * a + b * b + c * c

    ga = 2.0 * a
    gb = 2.0 * b
    gc = 2.0 * c
    gs = 0.0
    gr = 0.0
    gbeta = 0.0
    w1 = dt / 6.0
    w2 = dt / 3.0
    for step in range(n_steps - 1, -1, -1):
        a = S[step, 0]
        b = S[step, 1]
        c = S[step, 2]
        a2 = S[step, 3]
        b2 = S[step, 4]
        c2 = S[step, 5]
        a3 = S[step, 6]
        b3 = S[step, 7]
        c3 = S[step, 8]
        a4 = S[step, 9]
        b4 = S[step, 10]
        c4 = S[step, 11]
        # slopes' adjoints from y' = y + dt/6 (k1 + 2 k2 + 2 k3 + k4); y's own adjoint
        # (ga, gb, gc) passes through unchanged and collects the stage terms below
        K1a = w1 * ga
        K1b = w1 * gb
        K1c = w1 * gc
        K2a = w2 * ga
        K2b = w2 * gb
        K2c = w2 * gc
        K3a = w2 * ga
        K3b = w2 * gb
        K3c = w2 * gc
        K4a = w1 * ga
        K4b = w1 * gb
        K4c = w1 * gc
        # stage 4: k4 = f(y4), y4 = y + dt k3
        gs += (b4 - a4) * K4a
        gr += a4 * K4b
        gbeta -= c4 * K4c
        Ya = -sigma * K4a + (rho - c4) * K4b + b4 * K4c
        Yb = sigma * K4a - K4b + a4 * K4c
        Yc = -a4 * K4b - beta * K4c
        ga += Ya
        gb += Yb
        gc += Yc
        K3a += dt * Ya
        K3b += dt * Yb
        K3c += dt * Yc
        # stage 3: k3 = f(y3), y3 = y + dt/2 k2
        gs += (b3 - a3) * K3a
        gr += a3 * K3b
        gbeta -= c3 * K3c
        Ya = -sigma * K3a + (rho - c3) * K3b + b3 * K3c
        Yb = sigma * K3a - K3b + a3 * K3c
        Yc = -a3 * K3b - beta * K3c
        ga += Ya
        gb += Yb
        gc += Yc
        K2a += 0.5 * dt * Ya
        K2b += 0.5 * dt * Yb
        K2c += 0.5 * dt * Yc
        # stage 2: k2 = f(y2), y2 = y + dt/2 k1
        gs += (b2 - a2) * K2a
        gr += a2 * K2b
        gbeta -= c2 * K2c
        Ya = -sigma * K2a + (rho - c2) * K2b + b2 * K2c
        Yb = sigma * K2a - K2b + a2 * K2c
        Yc = -a2 * K2b - beta * K2c
        ga += Ya
        gb += Yb
        gc += Yc
        K1a += 0.5 * dt * Ya
        K1b += 0.5 * dt * Yb
        K1c += 0.5 * dt * Yc
        # stage 1: k1 = f(y)
        gs += (b - a) * K1a
        gr += a * K1b
        gbeta -= c * K1c
        ga += -sigma * K1a + (rho - c) * K1b + b * K1c
        gb += sigma * K1a - K1b + a * K1c
        gc += -a * K1b - beta * K1c
    dy0 = np.empty(3)
    dy0[0] = ga
    dy0[1] = gb
    dy0[2] = gc
    dp = np.empty(3)
    dp[0] = gs
    dp[1] = gr
    dp[2] = gbeta
    return value, (dy0, dp)


# =============================================================================== 3. Lennard-Jones
def lennard_jones(X):
    n = X.shape[0]
    e = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            dx = X[i, 0] - X[j, 0]
            dy = X[i, 1] - X[j, 1]
            dz = X[i, 2] - X[j, 2]
            r2 = dx * dx + dy * dy + dz * dz
            inv6 = 1.0 / (r2 * r2 * r2)
            e += 4.0 * (inv6 * inv6 - inv6)
    return e


@numba.njit(cache=False)
def lennard_jones_adjoint(X):
    # Pair terms only read X, so each pair's adjoint is applied right after its energy:
    # e = 4 (s^2 - s) with s = r2^-3, de/dr2 = 4 (2 s - 1) * (-3 s / r2).  Particle i's
    # gradient is accumulated in registers over the inner loop and written once.
    n = X.shape[0]
    G = np.zeros_like(X)
    e = 0.0
    for i in range(n):
        xi = X[i, 0]
        yi = X[i, 1]
        zi = X[i, 2]
        gxi = 0.0
        gyi = 0.0
        gzi = 0.0
        for j in range(i + 1, n):
            dx = xi - X[j, 0]
            dy = yi - X[j, 1]
            dz = zi - X[j, 2]
            r2 = dx * dx + dy * dy + dz * dz
            inv6 = 1.0 / (r2 * r2 * r2)
            e += 4.0 * (inv6 * inv6 - inv6)
            c = 2.0 * 4.0 * (2.0 * inv6 - 1.0) * (-3.0 * inv6 / r2)
            gx = c * dx
            gy = c * dy
            gz = c * dz
            gxi += gx
            gyi += gy
            gzi += gz
            G[j, 0] -= gx
            G[j, 1] -= gy
            G[j, 2] -= gz
        G[i, 0] += gxi
        G[i, 1] += gyi
        G[i, 2] += gzi
    return e, (G,)


# =============================================================================== 4. heat stencil
def heat(u0, a):
    u = u0.copy()
    v = np.zeros_like(u0)
    n = len(u0)
    n_steps = n // 2          # 1000 cells -> 500 steps
    for step in range(n_steps):
        for i in range(1, n - 1):
            v[i] = u[i] + a * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u, v = v, u
    return np.sum(u ** 2)


@numba.njit(cache=False)
def heat_adjoint(u0, a):
    # The primal ping-pongs two buffers: each step writes the interior of v from u and
    # then swaps, so the boundary cells alternate between 0 (np.zeros_like) and u0's ends.
    # Forward: record each cell's Laplacian in one flat preallocated array, which is all
    # the `a` adjoint needs (the step is linear in u).  Reverse, per step: dw is the
    # adjoint of the buffer that step wrote, dr of the buffer it read.  The written
    # interior was overwritten, so its adjoint is consumed (zeroed); boundary adjoints
    # carry through both buffers.  (A gather-form variant of the reverse loop measured
    # slower than this scatter form with Numba 0.68.)
    n = len(u0)
    n_steps = n // 2
    tape = np.empty(n_steps * (n - 2))
    u = u0.copy()
    v = np.zeros_like(u0)
    k = 0
    for step in range(n_steps):
        for i in range(1, n - 1):
            L = u[i - 1] - 2.0 * u[i] + u[i + 1]
            tape[k] = L
            k += 1
            v[i] = u[i] + a * L
        u, v = v, u
    s = np.sum(u ** 2)

    dw = 2.0 * u          # adjoint of the buffer named u at the end
    dr = np.zeros(n)      # adjoint of the buffer named v at the end
    da = 0.0
    for step in range(n_steps - 1, -1, -1):
        for i in range(n - 2, 0, -1):
            k -= 1
            g = dw[i]
            dw[i] = 0.0
            da += g * tape[k]
            ag = a * g
            dr[i + 1] += ag
            dr[i] += g - 2.0 * ag
            dr[i - 1] += ag
        dw, dr = dr, dw   # undo the swap: the read buffer was written one step earlier
    # dw is now the adjoint of u = u0.copy(); dr that of the fresh np.zeros_like(u0)
    return s, (dw, da)


# =============================================================================== 5. GMM
def gmm(means, logvars, logw, X):
    n = X.shape[0]
    d = X.shape[1]
    k = means.shape[0]
    # normalise the mixture weights: lognorm = logsumexp(logw)
    wmax = logw[0]
    for j in range(1, k):
        if logw[j] > wmax:
            wmax = logw[j]
    ws = 0.0
    for j in range(k):
        ws += math.exp(logw[j] - wmax)
    lognorm = wmax + math.log(ws)
    lp = np.zeros(k)
    total = 0.0
    for p in range(n):
        for j in range(k):
            acc = logw[j] - lognorm - 0.5 * d * LOG_2PI
            for l in range(d):
                diff = X[p, l] - means[j, l]
                acc -= 0.5 * (logvars[j, l] + diff * diff * math.exp(-logvars[j, l]))
            lp[j] = acc
        mx = lp[0]
        for j in range(1, k):
            if lp[j] > mx:
                mx = lp[j]
        s = 0.0
        for j in range(k):
            s += math.exp(lp[j] - mx)
        total += mx + math.log(s)
    return total


@numba.njit(cache=False)
def gmm_adjoint(means, logvars, logw, X):
    # Points are independent given the parameters, so the reverse sweep of each point
    # runs right after its forward sweep; per point the (k, d) values diff * exp(-lv)
    # and the k log-probabilities are kept in buffers allocated once.  The adjoint of
    # log-sum-exp is the softmax (the max shift cancels exactly).
    n = X.shape[0]
    d = X.shape[1]
    k = means.shape[0]
    wmax = logw[0]
    for j in range(1, k):
        if logw[j] > wmax:
            wmax = logw[j]
    ws = 0.0
    for j in range(k):
        ws += math.exp(logw[j] - wmax)
    lognorm = wmax + math.log(ws)

    dmeans = np.zeros_like(means)
    dlogvars = np.zeros_like(logvars)
    dlogw = np.zeros_like(logw)
    lp = np.zeros(k)
    t = np.empty((k, d))     # diff * exp(-logvars)
    q = np.empty((k, d))     # diff * diff * exp(-logvars)
    total = 0.0
    for p in range(n):
        for j in range(k):
            acc = logw[j] - lognorm - 0.5 * d * LOG_2PI
            for l in range(d):
                diff = X[p, l] - means[j, l]
                iv = math.exp(-logvars[j, l])
                t[j, l] = diff * iv
                q[j, l] = diff * diff * iv
                acc -= 0.5 * (logvars[j, l] + q[j, l])
            lp[j] = acc
        mx = lp[0]
        for j in range(1, k):
            if lp[j] > mx:
                mx = lp[j]
        s = 0.0
        for j in range(k):
            s += math.exp(lp[j] - mx)
        total += mx + math.log(s)
        # reverse sweep of this point, seed 1
        for j in range(k):
            r = math.exp(lp[j] - mx) / s
            dlogw[j] += r
            for l in range(d):
                dmeans[j, l] += r * t[j, l]
                dlogvars[j, l] += r * 0.5 * (q[j, l] - 1.0)
    # every lp contains -lognorm: d total / d lognorm = -n, d lognorm / d logw = softmax
    for j in range(k):
        dlogw[j] -= n * math.exp(logw[j] - lognorm)
    return total, (dmeans, dlogvars, dlogw)


# =============================================================================== registry
@dataclass
class Kernel:
    name: str
    primal: object          # plain Python function (the harness njit's it)
    adjoint: object         # @numba.njit hand-written adjoint -> (value, grads tuple)
    wrt: tuple              # differentiated argument positions


KERNELS = {
    "rosenbrock": Kernel("rosenbrock", rosenbrock, rosenbrock_adjoint, (0,)),
    "rk4": Kernel("rk4", rk4, rk4_adjoint, (0, 1)),
    "lennard_jones": Kernel("lennard_jones", lennard_jones, lennard_jones_adjoint, (0,)),
    "heat": Kernel("heat", heat, heat_adjoint, (0, 1)),
    "gmm": Kernel("gmm", gmm, gmm_adjoint, (0, 1, 2)),
}


def make_inputs(name: str, quick: bool = False, seed: int = 0):
    """(args tuple, size description) for kernel ``name``."""
    rng = np.random.default_rng(seed)
    if name == "rosenbrock":
        n = 1_000 if quick else 10_000
        x = rng.uniform(-1.5, 1.5, n)
        return (x,), f"n={n}"
    if name == "rk4":
        n_steps = 1_000 if quick else 10_000
        y0 = np.array([1.0, 1.5, 20.0]) + 0.1 * rng.standard_normal(3)
        # rho=15 < 24.74: a damped spiral onto a fixed point, not chaos, so the gradient
        # is well conditioned and comparable to 1e-8 between the two adjoints
        p = np.array([10.0, 15.0, 8.0 / 3.0])
        return (y0, p, n_steps), f"{n_steps} steps"
    if name == "lennard_jones":
        n = 100 if quick else 500
        m = int(math.ceil(n ** (1.0 / 3.0)))
        grid = np.array([(i, j, k) for i in range(m) for j in range(m) for k in range(m)],
                        dtype=np.float64)[:n]
        X = 1.12 * grid + 0.05 * rng.standard_normal((n, 3))
        return (X,), f"N={n}"
    if name == "heat":
        n = 200 if quick else 1_000
        u0 = np.sin(np.linspace(0.0, np.pi, n)) + 0.1 * rng.standard_normal(n)
        return (u0, 0.2), f"{n} cells x {n // 2} steps"
    if name == "gmm":
        d, k, n = (10, 25, 100) if quick else (10, 25, 1_000)
        means = rng.standard_normal((k, d))
        logvars = 0.3 * rng.standard_normal((k, d))
        logw = 0.5 * rng.standard_normal(k)
        X = rng.standard_normal((n, d)) * 1.5
        return (means, logvars, logw, X), f"d={d} k={k} n={n}"
    raise KeyError(name)


# =============================================================================== FD check
def fd_check(kern, args, primal, grads, n_coords=4, seed=1):
    """Max scaled error of ``grads`` against central differences of ``primal``.

    Checks ``n_coords`` random coordinates of every differentiated argument (all of a
    scalar).  The error of a coordinate is |analytic - fd| divided by the larger of
    |analytic|, |fd| and 1e-3 * max|gradient of that argument|, so that entries close to
    zero are judged against the gradient's scale, not against rounding noise.
    """
    rng = np.random.default_rng(seed)
    worst = 0.0
    for g, pos in zip(grads, kern.wrt):
        x = args[pos]
        gscale = float(np.max(np.abs(g)))
        if isinstance(x, np.ndarray):
            flat = rng.choice(x.size, size=min(n_coords, x.size), replace=False)
            coords = [np.unravel_index(f, x.shape) for f in flat]
        else:
            coords = [None]
        for idx in coords:
            x0 = x if idx is None else x[idx]
            h = 1e-5 * max(1.0, abs(x0))

            def at(delta):
                new = list(args)
                if idx is None:
                    new[pos] = x + delta
                else:
                    xc = x.copy()
                    xc[idx] += delta
                    new[pos] = xc
                return primal(*new)

            fd = (at(h) - at(-h)) / (2 * h)
            an = float(g if idx is None else g[idx])
            err = abs(an - fd) / max(abs(an), abs(fd), 1e-3 * gscale, 1e-300)
            worst = max(worst, err)
    return worst


if __name__ == "__main__":
    import sys
    quick = "--full" not in sys.argv
    for name, kern in KERNELS.items():
        args, size = make_inputs(name, quick)
        _, grads = kern.adjoint(*args)
        err = fd_check(kern, args, numba.njit(kern.primal), grads, n_coords=8)
        print(f"{name:14s} {size:24s} hand adjoint vs central differences: "
              f"max scaled error {err:.1e}")
