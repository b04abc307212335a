"""Simulation code written as small kernels calling each other (issue 14's patterns):
Numba kernels calling Numba kernels, helpers writing into output arguments inside a time
loop, call chains, helpers called in loops with branches inside, helpers returning
tuples.  Each program is differentiated in every mode by tests/test_modular.py."""

import numba
import numpy as np

import srcgrad


# ---------------------------------------------------------------- kernels calling kernels
@numba.njit
def force(x, k):
    return -k * x


@numba.njit
def spring_energy(x, k):
    f = force(x, k)
    return 0.5 * np.sum(f * f) / k


# ---------------------------------------------------------------- output arguments
def pendulum_rhs(t, y, p, out):
    out[0] = y[1]
    out[1] = -p[0] * np.sin(y[0]) - p[1] * y[1] + 0.1 * np.cos(t)


def rk4_step(t, y, p, h):
    k1 = np.empty_like(y)
    k2 = np.empty_like(y)
    k3 = np.empty_like(y)
    k4 = np.empty_like(y)
    pendulum_rhs(t, y, p, k1)
    pendulum_rhs(t + 0.5 * h, y + 0.5 * h * k1, p, k2)
    pendulum_rhs(t + 0.5 * h, y + 0.5 * h * k2, p, k3)
    pendulum_rhs(t + h, y + h * k3, p, k4)
    return y + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def pendulum_loss(y0, p):
    y = y0.copy()
    t = 0.0
    for _ in range(25):
        y = rk4_step(t, y, p, 0.04)
        t = t + 0.04
    return y[0] ** 2 + 0.5 * y[1] ** 2


def euler_in_place(y0, p):
    """The time loop writes the state through an output-argument helper each step."""
    y = y0.copy()
    dydt = np.empty_like(y0)
    for i in range(30):
        pendulum_rhs(0.05 * i, y, p, dydt)
        y += 0.05 * dydt
    return np.sum(y * y)


# ---------------------------------------------------------------- chains and branches
def soft_clip(v):
    if v > 1.0:
        return 1.0 + np.log(v)
    return v


def level3(v, c):
    return soft_clip(v * c) * v


def level2(v, c):
    return level3(v, c) + level3(c, v)


def chain_three_deep(x, c):
    s = 0.0
    for i in range(len(x)):
        s = s + level2(x[i], c)
    return s


# ---------------------------------------------------------------- tuples, logsumexp, pairs
def moments(v):
    m = np.mean(v)
    return m, np.mean((v - m) ** 2)


def tuple_helper(x):
    m, var = moments(x)
    return m * m + var


def logsumexp(v):
    top = np.max(v)
    return top + np.log(np.sum(np.exp(v - top)))


def mixture_loglik(x, means, logw):
    total = 0.0
    for i in range(len(x)):
        total = total + logsumexp(logw - 0.5 * (x[i] - means) ** 2)
    return -total


def pair_energy(r2):
    inv6 = 1.0 / (r2 * r2 * r2)
    return 4.0 * (inv6 * inv6 - inv6)


def lennard_jones(pos):
    e = 0.0
    n = pos.shape[0]
    for i in range(n):
        for j in range(i + 1, n):
            d = pos[i] - pos[j]
            e = e + pair_energy(np.sum(d * d))
    return e


# ---------------------------------------------------------------- methods
class Model:
    def __init__(self, w):
        self.w = w

    def predict(self, x):
        return np.tanh(self.w * x)


MODEL = Model(np.array([0.5, -1.5, 2.0]))


def method_call(x):
    return np.sum(MODEL.predict(x) ** 2)


# ---------------------------------------------------------------- derivatives inside
def potential(x):
    return np.sum(x ** 4) + np.sum(np.sin(x))


FORCE = srcgrad.grad(potential)


def trajectory_loss(x0, h):
    """A symplectic Euler trajectory driven by the gradient of a potential."""
    x = x0.copy()
    v = np.zeros_like(x0)
    for _ in range(8):
        v = v - h * FORCE(x)
        x = x + h * v
    return np.sum(x * x)


def saddle(x, y):
    return np.sum(x * y) + np.sum(x ** 2) - np.sum(y ** 2)


def best_response(x, y):
    """One ascent step of the inner maximisation of a min-max problem, made inside."""
    gy = srcgrad.grad(saddle, wrt=1)(x, y)
    return saddle(x, y + 0.5 * gy)


def newton_residual(x):
    """The norm of a Newton direction's Hessian product, built from grad and hvp inside."""
    g = srcgrad.grad(potential)(x)
    hg = srcgrad.hvp(potential)(x, g)
    return np.sum(hg * hg)


HESSIAN_TIMES = srcgrad.hvp(potential)


def curvature_along(x, v):
    return np.sum(HESSIAN_TIMES(x, v) ** 2)


def directional_energy(x, v):
    """The potential and its directional derivative, from srcgrad.jvp inside."""
    energy, slope = srcgrad.jvp(potential, (x,), (v,))
    return energy + slope ** 2


def newton_step_norm(x):
    """A damped Newton step from the Hessian made inside (its diagonal and its product)."""
    h = srcgrad.hessian(potential)(x)
    g = srcgrad.grad(potential)(x)
    step = g / (np.diag(h) + 3.0) + 0.1 * (h @ g)
    return np.sum(step * step) + np.trace(h)


CURVATURE = srcgrad.hessian(potential)


def scalar_curvature(t):
    """A module-level hessian of a function of a float, used inside."""
    return CURVATURE(np.array([t, 0.5 * t, -t])).sum() * t


def explicit_euler(rhs, y0, h, steps):
    y = y0
    for _ in range(steps):
        y = y + h * rhs(y)
    return y


def decay_loss(k, y0):
    """A nested right-hand side closing over the rate, passed to an integrator."""
    def rhs(y):
        return -k * y + 0.1 * np.sin(y)
    return np.sum(explicit_euler(rhs, y0, 0.1, 6) ** 2)


def apply_twice(g, x):
    return g(g(x))


def lambda_passed(k, x):
    """A lambda closing over k, called inside another function."""
    return np.sum(apply_twice(lambda v: np.sin(k * v) + v, x) ** 2)


def layer(w, x):
    return np.tanh(w * x) + w


def pullback_inside(w, x, ct):
    """srcgrad.vjp inside: the output and its pullback both enter the loss."""
    out, pullback = srcgrad.vjp(layer, w, x)
    dw, dx = pullback(ct)
    return np.sum(out * ct) + np.sum(dw ** 2) + np.sum(dx)
