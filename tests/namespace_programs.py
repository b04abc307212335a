"""Programs written against an array namespace, with library functions imported by name,
and with calls that need no rule (tests/test_namespaces.py)."""

import math

import numpy as np
import numpy as xp
import scipy.special
from math import exp as math_exp
from numpy import exp, sin

linalg = np.linalg


def namespace_default(x, xp=np):
    return xp.sum(xp.sin(x) * x) + xp.linalg.norm(x)


def module_alias(x):
    return xp.sum(xp.tanh(x) ** 2)


def imported_names(x):
    return np.sum(sin(x) * exp(-x)) + math_exp(0.5) * x[0]


def submodule_bound(x):
    lin = np.linalg
    return lin.norm(x) + linalg.norm(2.0 * x)


def activation(w, x, act=np.tanh):
    return np.sum(act(w * x))


def half_square(v):
    return 0.5 * v * v


def inactive_call(x, m):
    """math.lgamma has no rule, but only the integer m reaches it."""
    return x * math.lgamma(0.5 * m + 1.0)


def inactive_library_call(x):
    """scipy.special.erfcx has no rule; its operand does not depend on x."""
    return np.sum(x * scipy.special.erfcx(np.linspace(0.1, 0.3, x.shape[0])))


def active_call_without_rule(x):
    return np.sum(scipy.special.erfcx(x))


def spectrum_power(x):
    return np.sum(np.abs(np.fft.fft(x)) ** 2)


def lists_of_values(x):
    """Reductions of a list of numbers (np.sum([a, b])), made an array first as NumPy does."""
    return np.sum([x[0], x[1] ** 2]) * np.prod([x[1], x[2]]) + np.max([x[0] * x[2], 0.1])


GRID_VALUES = np.arange(6.0).reshape(2, 3) / 4


def global_array_integrated(x):
    """A module-level array reaches a helper that reads only its shape (in the gradient)."""
    return np.sum(np.trapezoid(GRID_VALUES, x ** 2, axis=1) ** 2)
