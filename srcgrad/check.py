"""gradcheck: compare srcgrad's gradients with central differences, like torch.autograd.gradcheck.

For a scalar function every entry of every float argument is perturbed; for an array (or
tuple) output a fixed random cotangent ``u`` turns the check into one of ``u . f``, so the
cost stays one pullback plus two evaluations per input entry.
"""

from __future__ import annotations

import inspect

import numpy as np

from srcgrad.errors import SrcgradError


class GradcheckError(SrcgradError):
    """Analytic and numeric gradients disagree; the message lists the worst entries."""


def _is_float(value) -> bool:
    return isinstance(value, (float, np.floating)) or (
        isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating))


def _flat(value):
    return np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()


def _projection(out, seed=0):
    """A fixed random cotangent shaped like ``out`` and the function ``u . out``."""
    rng = np.random.default_rng(seed)
    if isinstance(out, (tuple, list)):
        us = [rng.standard_normal(np.shape(o)) if np.ndim(o) else float(rng.standard_normal())
              for o in out]
        return type(out)(us), lambda y: sum(float(np.sum(u * np.asarray(v))) for u, v in zip(us, y))
    if np.ndim(out) == 0:
        return None, lambda y: float(y)
    u = rng.standard_normal(np.shape(out))
    return u, lambda y: float(np.sum(u * y))


def _analytic(f, args, wrt, u):
    from srcgrad import api
    if u is None:
        grads = api.grad(f, wrt=tuple(wrt))(*args)
        return list(grads)
    _, pullback = api.vjp(f, *args)
    cts = pullback(u)
    return [cts[i] for i in wrt]


def _numeric(f, args, i, eps, project):
    x = args[i]
    base = np.array(x, dtype=np.float64)
    grad = np.zeros(base.size)
    for k in range(base.size):
        values = []
        for sign in (1.0, -1.0):
            moved = base.copy().ravel()
            moved[k] += sign * eps
            arg = moved.reshape(base.shape) if isinstance(x, np.ndarray) else float(moved[0])
            trial = list(args)
            trial[i] = arg
            values.append(project(f(*trial)))
        grad[k] = (values[0] - values[1]) / (2 * eps)
    return grad


def gradcheck(f, args, eps=1e-6, atol=1e-5, rtol=1e-3, wrt=None) -> bool:
    """True when srcgrad's gradient of ``f`` at ``args`` matches central differences.

    Compares ``|analytic - numeric| <= atol + rtol * |numeric|`` entry by entry for every
    float argument (or the positions in ``wrt``); otherwise raises GradcheckError naming
    the input, the index and the analytic and numeric values of the worst entries.
    """
    args = tuple(args)
    wrt = [i for i, a in enumerate(args) if _is_float(a)] if wrt is None else list(wrt)
    if not wrt:
        raise GradcheckError("gradcheck needs at least one float argument to differentiate")
    u, project = _projection(f(*args))
    analytic = _analytic(f, args, wrt, u)
    try:
        names = list(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        names = [f"arg{i}" for i in range(len(args))]
    problems = []
    for i, got in zip(wrt, analytic):
        got = _flat(got)
        want = _numeric(f, args, i, eps, project)
        excess = np.abs(got - want) - (atol + rtol * np.abs(want))
        for k in np.argsort(-excess)[:5]:
            if excess[k] > 0:
                index = tuple(int(j) for j in np.unravel_index(k, np.shape(args[i]))) if np.ndim(args[i]) else ()
                problems.append((excess[k], names[i] if i < len(names) else f"arg{i}", index,
                                 got[k], want[k]))
    if problems:
        problems.sort(key=lambda p: -p[0])
        lines = [f"  input '{name}'{list(index) if index else ''}: analytic {a:.8g}, "
                 f"numeric {n:.8g}" for _, name, index, a, n in problems[:5]]
        raise GradcheckError("gradients do not match central differences "
                             f"(atol={atol}, rtol={rtol}, eps={eps}); worst entries:\n"
                             + "\n".join(lines), construct=getattr(f, "__name__", "gradcheck"))
    return True
