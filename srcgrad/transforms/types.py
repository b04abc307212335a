"""Value types: what a value is at run time (a scalar, an array of a rank, dtype and
layout, a list of items), and the result type of a library call from its operands'.

``kinds.py`` gives every value of a function its type; lowering asks ``evaluate`` for
the kind and rank of a call's result; the reverse pass names typed stacks after a type
(``tape_suffix``).  Nothing here needs Numba.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from srcgrad import ir
from srcgrad.rules import registry
from srcgrad.rules.effects import is_effect
from srcgrad.transforms import emit as E



@dataclass(frozen=True)
class ValueType:
    """What a value is at run time: a scalar, an array or a list of items.

    ``dtype`` is the element dtype's name (float64, float32, int64, bool); ``layout`` is
    "C" for a contiguous array and "A" for a view that may not be (Numba's spelling).
    """

    kind: str                          # "scalar" | "array" | "list"
    dtype: str | None = None
    ndim: int = 0
    layout: str = "C"
    item: "ValueType | None" = None    # the items of a list
    optional: bool = False             # None on some path (a name unbound before a loop)

    def __str__(self) -> str:
        """Numba's spelling: ``float64``, ``array(float64, 1d, C)``, ``list(int64)``."""
        if self.kind == "scalar":
            text = str(self.dtype)
        elif self.kind == "array":
            text = f"array({self.dtype}, {self.ndim}d, {self.layout})"
        elif self.kind == "list":
            text = f"list({self.item if self.item is not None else '?'})"
        elif self.kind == "tuple":
            text = f"UniTuple(int64, {self.ndim})"
        else:
            text = self.kind
        return f"{text} | None" if self.optional else text


F64 = ValueType("scalar", "float64")
I64 = ValueType("scalar", "int64")
BOOL = ValueType("scalar", "bool")
NONE = ValueType("none")
SCALAR_DTYPES = {"float": "float64", "int": "int64", "bool": "bool"}
SUFFIXES = {"float64": "f64", "float32": "f32", "int64": "i64", "bool": "bool"}


def is_integral(dtype: str | None) -> bool:
    """Whether values of this dtype name are integers or booleans (carry no derivative)."""
    return dtype is not None and (dtype == "bool" or dtype.startswith(("int", "uint")))


def scalar(dtype: str) -> ValueType:
    return ValueType("scalar", dtype)


def array(dtype: str, ndim: int, layout: str = "C") -> ValueType:
    return ValueType("array", dtype, ndim, layout)


def join(a: ValueType | None, b: ValueType | None) -> ValueType | None:
    """The type of a value that is ``a`` on one path and ``b`` on another (None:
    unbound or unknown on that path, so the other path decides)."""
    if a is None or a == b:
        return b
    if b is None:
        return a
    if a.kind == "none" or b.kind == "none":
        return replace(b if a.kind == "none" else a, optional=True)
    if a.optional or b.optional:
        joined = join(replace(a, optional=False), replace(b, optional=False))
        return joined and replace(joined, optional=True)
    if a.kind != b.kind or a.ndim != b.ndim:
        return None
    if a.kind == "list":
        return replace(a, item=join(a.item, b.item))
    dtype = a.dtype if a.dtype == b.dtype else _promote(a.dtype, b.dtype)
    return ValueType(a.kind, dtype, a.ndim, "C" if a.layout == b.layout == "C" else "A")


def _promote(a, b):
    if a is None or b is None:
        return None
    order = ["bool", "int64", "float32", "float64"]
    if {a, b} == {"int64", "float32"}:
        return "float64"
    return order[max(order.index(a), order.index(b))] if a in order and b in order else None


def evaluate(fn, args, kwargs, type_of) -> ValueType | None:
    """The type of ``fn(*args, **kwargs)`` from its operands' types (``type_of(operand)``),
    or None when it cannot be known before running.

    A primitive's ``abstract`` rule decides if it has one.  Otherwise a library function
    runs on stand-ins of its operands (arrays of ones of the same rank and dtype), so
    NumPy's own promotion, broadcasting and reduction rules give the result's kind, rank
    and dtype without being restated here.  Stand-ins with every length 1 make reshapes
    and products always valid; a function whose result rank depends on the lengths
    themselves (``np.squeeze``) declares an ``abstract`` rule instead.
    """
    prim = registry.record(fn)
    if prim is not None and prim.abstract is not None:
        return prim.abstract([type_of(a) for a in args], args, kwargs)
    if not _evaluable(fn):
        return None
    try:
        stand_args = [_stand_in(a, type_of) for a in args]
        stand_kwargs = {k: _stand_in(v, type_of) for k, v in kwargs.items()}
    except _Unknown:
        return None
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _type_of_value(fn(*stand_args, **stand_kwargs))
    except Exception:            # a stand-in NumPy rejects: lowering's kind decides
        return None


class _Unknown(Exception):
    """An operand whose type is not known: the call cannot be evaluated on stand-ins."""


_EVALUABLE_MODULES = ("numpy", "math", "operator", "builtins", "_operator", "srcgrad.runtime")


def _evaluable(fn) -> bool:
    """Pure library primitives only: a user's function, a call kept for its effect
    (``print``) or one drawing random numbers never runs on stand-ins."""
    if isinstance(fn, np.ufunc):
        return True
    module = getattr(fn, "__module__", None) or ""
    return registry.lookup(fn) is not None and module.startswith(_EVALUABLE_MODULES) \
        and not module.startswith("numpy.random") and not is_effect(fn)


def _stand_in(op, type_of):
    """A value of ``op``'s type: ones of its rank and dtype (a Python float for a float64
    scalar, so that float32 arrays stay float32 as with Python constants)."""
    if isinstance(op, ir.Const):
        return op.value
    if isinstance(op, ir.Seq):
        items = [_stand_in(i, type_of) for i in op.items]
        return items if op.kind == "list" else tuple(items)
    return _value_of_type(type_of(op))


def _value_of_type(t: ValueType | None):
    if t is None:
        raise _Unknown
    if t.kind == "scalar":
        return {"float64": 1.0, "int64": 1, "bool": True}.get(t.dtype) or np.dtype(t.dtype).type(1)
    if t.kind == "array":
        return np.ones((1,) * t.ndim, dtype=t.dtype)
    if t.kind == "tuple":
        return (1,) * t.ndim
    if t.kind == "list":
        return [_value_of_type(t.item)]
    raise _Unknown


def _type_of_value(value) -> ValueType | None:
    if isinstance(value, (bool, np.bool_)):
        return BOOL
    if isinstance(value, (int, np.integer)):
        return I64
    if isinstance(value, float):
        return F64
    if isinstance(value, np.floating) and value.dtype.name in SUFFIXES:
        return scalar(value.dtype.name)
    if isinstance(value, np.ndarray):
        dtype = "int64" if value.dtype.kind in "iu" else value.dtype.name
        return array(dtype, value.ndim) if dtype in SUFFIXES else None
    if isinstance(value, tuple) and all(isinstance(v, (int, np.integer)) for v in value):
        return ValueType("tuple", "int64", len(value))
    return None


# --------------------------------------------------------------------------- uses
def tape_suffix(t: ValueType | None) -> str | None:
    """The stack constructor suffix for a type: ``f64``, ``i64``, ``f64_2d``, ``list_f64``..."""
    if t is None or t.optional:
        return None
    if t.kind == "scalar":
        return SUFFIXES.get(t.dtype)
    if t.kind == "array" and 1 <= t.ndim <= 3 and t.dtype in SUFFIXES:
        return f"{SUFFIXES[t.dtype]}_{t.ndim}d"
    if t.kind == "list":
        element = tape_suffix(t.item)
        return f"list_{element}" if element and not element.startswith("list") else None
    return None


def dummy_value(t: ValueType | None):
    """A value of type ``t`` for a name that is not bound yet.

    Python would raise NameError if such a name were read before being assigned, so any
    value of the right type keeps the program's meaning while giving Numba one type.
    """
    if t is None:
        return None
    t = replace(t, optional=False)
    if t.kind == "scalar":
        value = {"bool": False, "int64": 0}.get(t.dtype, 0.0)
        return E.const(value)
    if t.kind == "array" and t.dtype in SUFFIXES:
        dtype = "bool_" if t.dtype == "bool" else t.dtype
        return E.call("np.empty", [E.tuple_([E.const(0)] * t.ndim)], {"dtype": E.dotted(f"np.{dtype}")})
    return None
