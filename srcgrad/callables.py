"""What a callable is, for the transform: the Python function whose source is read, the
values already bound (``self`` of a bound method, a partial's arguments), its signature,
the attributes of bound values it reads (watched, so a change regenerates the
derivative), and Numba dispatchers, recognized without importing Numba."""

from __future__ import annotations

import functools
import inspect
import sys

import gast
import numpy as np

from srcgrad.errors import SrcgradError


def is_numba_dispatcher(fn) -> bool:
    """Whether ``fn`` is a ``numba.njit`` dispatcher, without importing Numba: a
    dispatcher exists only once Numba has been imported."""
    if "numba" not in sys.modules:
        return False
    cls = _numba_dispatcher_type()
    return cls is not None and isinstance(fn, cls)


@functools.lru_cache(maxsize=None)
def _numba_dispatcher_type():
    try:
        from numba.core.registry import CPUDispatcher
        return CPUDispatcher
    except Exception:                      # numba changed
        return None


ABSENT = object()


def attribute_paths(node, bound) -> list[tuple[str, tuple[str, ...]]]:
    """Every attribute chain ``self.a.b`` rooted at a bound parameter that ``node`` reads."""
    paths = set()
    for n in gast.walk(node):
        if not isinstance(n, gast.Attribute):
            continue
        chain, base = [], n
        while isinstance(base, gast.Attribute):
            chain.append(base.attr)
            base = base.value
        if isinstance(base, gast.Name) and base.id in bound:
            paths.add((base.id, tuple(reversed(chain))))
    return sorted(paths)


def snapshot(value):
    """A copy of the data in ``value`` (arrays and the containers holding them), so a
    later in-place change shows; other objects as they are."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(snapshot(v) for v in value) if type(value) in (list, tuple) else value
    if type(value) is dict:
        return {k: snapshot(v) for k, v in value.items()}
    return value


def same_value(a, b) -> bool:
    """Whether a watched value (``b``: its snapshot) is unchanged."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (int, float, complex, str, bytes, np.number, np.bool_)):
        return a == b or (a != a and b != b)
    if hasattr(a, "__self__") and callable(a):
        # a method looked up again is a new object: the same method of the same owner
        # (the owner is watched on its own, as the chain's previous link)
        return getattr(a, "__func__", None) is getattr(b, "__func__", None) and \
            getattr(a, "__name__", None) == getattr(b, "__name__", None)
    return False


def unbind(fn) -> tuple[object, dict]:
    """The function to differentiate and its parameters bound before the call.

    A bound method binds its first parameter to ``__self__``; a ``functools.partial``
    binds the next parameters to its positional arguments (its keywords stay parameters
    with new defaults, as ``inspect.signature`` shows them); an object with a
    ``__call__`` method is its bound ``__call__``.
    """
    if isinstance(fn, functools.partial):
        target, bound = unbind(fn.func)
        free = _positional_params(target, bound)
        if len(fn.args) > len(free):
            raise SrcgradError(f"{fn!r} binds {len(fn.args)} positional arguments, but the "
                               f"function has {len(free)} positional parameters left",
                               construct="functools.partial")
        bound.update(zip(free, fn.args))
        return target, bound
    if inspect.ismethod(fn):
        target, bound = unbind(fn.__func__)
        free = _positional_params(target, bound)
        if not free:
            raise SrcgradError(f"{fn!r} is a method without a parameter for 'self'",
                               construct="method")
        bound[free[0]] = fn.__self__
        return target, bound
    if not isinstance(fn, type) and inspect.isfunction(getattr(type(fn), "__call__", None)):
        return unbind(fn.__call__)          # a callable object: its bound __call__
    return fn, {}


def _positional_params(fn, bound) -> list[str]:
    if is_numba_dispatcher(fn):
        fn = fn.py_func
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    return [p for p in code.co_varnames[:code.co_argcount] if p not in bound]


def signature_of(fn, target) -> inspect.Signature:
    """The signature a call of ``fn`` binds against: not following ``__wrapped__`` (the
    wrapper is what runs), a partial's and a method's bound parameters removed."""
    try:
        if is_numba_dispatcher(fn):
            return inspect.signature(fn.py_func, follow_wrapped=False)
        return inspect.signature(fn, follow_wrapped=False)
    except (TypeError, ValueError):
        return inspect.signature(target, follow_wrapped=False)


def refuse_variadic(parsed, fn, passed=None) -> None:
    """``*args`` and ``**kwargs`` at the ``def`` line, with what to write instead."""
    args = parsed.node.args
    if not (args.vararg or args.kwarg):
        return
    loc = parsed.loc(parsed.node)
    if hasattr(fn, "__wrapped__") or hasattr(passed, "__wrapped__"):
        name = getattr(passed if hasattr(passed, "__wrapped__") else fn, "__name__", "f")
        raise SrcgradError(
            f"'{name}' is a decorator's wrapper (functools.wraps): it forwards "
            f"*args/**kwargs to the function it wraps, so its source does not say what is "
            f"computed. Differentiate the undecorated function ({name}.__wrapped__) "
            f"and apply the decorator's work yourself, give the wrapper explicit parameters, "
            f"or register a rule for it with srcgrad.defvjp", loc, "decorator")
    star = "*" + args.vararg.id if args.vararg else "**" + args.kwarg.id
    raise SrcgradError(
        f"{star} parameters are not supported: the derivative needs each parameter by "
        f"name. Name the parameters (def f(x, y)), pass several values as one tuple, list "
        f"or dict parameter (def f(xs)), or use keyword-only parameters with defaults "
        f"(def f(x, *, scale=1.0))", loc, "parameters")




def call_split(fn, param_names, keyword_only, args):
    """``fn`` on one argument per parameter, keyword-only ones passed by keyword."""
    if not keyword_only:
        return fn(*args)
    positional = [a for p, a in zip(param_names, args) if p not in keyword_only]
    keywords = {p: a for p, a in zip(param_names, args) if p in keyword_only}
    return fn(*positional, **keywords)
