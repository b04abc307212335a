"""The kinds pass: the element dtype, rank and layout of every SSA value, from the IR alone.

The reverse sweep records loop values on typed stacks (``stack_f64``, ``stack_f64_2d``,
``stack_list_f64``...), writes a zero literal for a float64 adjoint, and gives a name
unbound before a loop a value of its type (Numba needs one type per name).  Lowering
already knows each value's kind (scalar, integer, array, buffer, list) and most ranks;
this pass adds element dtypes, follows values through branches, calls (``types.evaluate``)
and loops (one fixpoint per loop), gives a list the type of the items appended to it,
and writes back what it settles: loop values that are integers on every path, and the
typed constructor of each run-time list.

It needs no Numba: without jit the generated text is the same whether or not Numba is
installed.  With jit, ``infer_types`` refines these types with Numba's own typing.
"""

from __future__ import annotations

import operator

from dataclasses import replace

import numpy as np

from srcgrad import ir
from srcgrad.rules import registry
from srcgrad.runtime import tape as tape_rt
from srcgrad.transforms.types import (BOOL, F64, I64, NONE, ValueType, SCALAR_DTYPES, SUFFIXES,
                                      array, evaluate, join, scalar, tape_suffix)


def needs_types(fn: ir.Function) -> bool:
    """Only loops record values, and run-time lists need a typed constructor; straight-line
    code keeps lowering's kinds (and compiles fast)."""
    return any(isinstance(s, (ir.For, ir.While)) or isinstance(s, ir.Call) and s.fn is tape_rt.stack
               for s in ir.walk(fn.body))


def infer(fn: ir.Function, param_kinds) -> dict[str, ValueType]:
    """SSA name -> ValueType for every value whose type is known.

    ``param_kinds`` holds one ``(kind, ndim, dtype)`` per IR parameter, as in the
    specialization key (``api.arg_kind``).  What the types settle is written back into
    the IR: loop values that are integers on every path (lowering sees a loop body before
    it knows what the body yields), and the typed constructor of each run-time list.
    """
    types = _infer(fn, param_kinds)
    if settle_loop_integers(fn, types):
        types = _infer(fn, param_kinds)
    type_list_constructors(fn, types)
    return types


def _infer(fn, param_kinds) -> dict[str, ValueType]:
    types = _Inference(fn)
    for name, key in zip(fn.params, param_kinds):
        t = from_kind_key(key)
        if t is not None:
            types.env[name] = t
    types.block(fn.body)
    types.settle_lists()
    return {n: t for n, t in types.env.items() if t is not None}


def settle_loop_integers(fn: ir.Function, types) -> bool:
    """Mark loop-carried values that are integers on every path (a loop index kept after
    its loop) as ``int``; one unbound before its loop starts at 0: Python would raise
    NameError reading it after zero iterations, and 0 gives it a single type for Numba.
    Returns whether an initial value changed."""
    changed = False
    for s in ir.walk(fn.body):
        if not isinstance(s, (ir.For, ir.While)):
            continue
        for j, (c, init, o) in enumerate(zip(s.carried, s.inits, s.outs)):
            t = types.get(c)
            if t is None or t.kind != "scalar" or t.dtype != "int64":
                continue
            fn.kinds[c] = fn.kinds[o] = "int"
            if isinstance(init, ir.Const) and init.value is None:
                s.inits[j] = ir.Const(0)
                changed = True
    return changed


def type_list_constructors(fn: ir.Function, types) -> None:
    """Give each run-time list the typed constructor of what is appended to it (Numba
    cannot type an empty list it sees passed around).  Float items are float64, as Numba
    computes them from float32 arrays and Python floats."""
    for s in ir.walk(fn.body):
        if not (isinstance(s, ir.Call) and s.fn is tape_rt.stack):
            continue
        item = getattr(types.get(s.target), "item", None)
        if item is None or item.kind not in ("scalar", "array") or item.ndim > 3:
            continue
        if item.dtype == "float32":
            item = replace(item, dtype="float64")
        suffix = tape_suffix(replace(item, layout="C", optional=False))
        if suffix is not None:
            s.fn, s.fn_name = getattr(tape_rt, f"stack_{suffix}"), f"stack_{suffix}"


_COMPARISONS = (operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne,
                operator.and_, operator.or_)


def _elementwise(fn) -> bool:
    """Whether ``fn``'s result has its operands' rank (so lowering's kind, "bool" for a
    comparison, says nothing of whether it is an array)."""
    return any(fn is c for c in _COMPARISONS) or registry.facts(fn).elementwise


def from_kind_key(key) -> ValueType | None:
    kind, ndim, dtype = key
    if kind == "float":
        return scalar(dtype or "float64")
    if kind in ("int", "bool"):
        return scalar(SCALAR_DTYPES[kind])
    if kind in ("array", "intarray") and dtype in SUFFIXES:
        return array(dtype, ndim)
    return None


class _Inference:
    """One walk over the IR in program order; loops are walked until their carried
    values' types stop changing."""

    def __init__(self, fn: ir.Function):
        self.fn = fn
        self.env: dict[str, ValueType | None] = {}
        self.list_items: dict[str, str] = {}        # list version -> its first version

    # ---- operands
    def of(self, op) -> ValueType | None:
        if isinstance(op, ir.Var):
            return self.env.get(op.name)
        if isinstance(op, ir.Const):
            value = op.value
            if value is None:
                return NONE
            if isinstance(value, bool):
                return BOOL
            if isinstance(value, int):
                return I64
            if isinstance(value, float):
                return F64
        return None

    def set(self, name, t):
        self.env[name] = t

    # ---- statements
    def block(self, body):
        for s in body:
            self.stmt(s)

    def stmt(self, s):
        if isinstance(s, ir.Call):
            self.set(s.target, self.call(s))
        elif isinstance(s, ir.GetItem):
            self.set(s.target, self.getitem(s))
        elif isinstance(s, ir.Store):
            self.set(s.target, self.of(s.array) or self.declared(s.target, [s.array, s.value]))
        elif isinstance(s, ir.Copy):
            self.set(s.target, self.of(s.value) or self.declared(s.target, [s.value]))
            self.link_list(s.target, s.value)
        elif isinstance(s, ir.If):
            self.block(s.then_body)
            self.block(s.else_body)
            for out, a, b in zip(s.outs, s.then_yields, s.else_yields):
                self.set(out, join(self.of(a), self.of(b)) or self.declared(out, []))
                self.link_list(out, a)
                self.link_list(out, b)
        elif isinstance(s, (ir.For, ir.While)):
            self.loop(s)

    def loop(self, s):
        if isinstance(s, ir.For):
            self.set(s.index, I64)
        for c, init in zip(s.carried, s.inits):
            self.set(c, self.of(init) or self.declared(c, []))
            self.link_list(c, init)
        for _ in range(8):                       # types only widen: a few rounds settle
            before = [self.env.get(c) for c in s.carried]
            if isinstance(s, ir.While):
                self.block(s.cond_body)
            self.block(s.body)
            for c, y in zip(s.carried, s.yields):
                self.set(c, join(self.env.get(c), self.of(y)))
                self.link_list(c, y)
            if [self.env.get(c) for c in s.carried] == before:
                break
        for out, c in zip(s.outs, s.carried):
            self.set(out, self.env.get(c))
            self.link_list(out, ir.Var(c))

    # ---- values
    def declared(self, name, operands) -> ValueType | None:
        """The type lowering's kind and rank give ``name``; the element dtype follows
        the operands (float32 only when every float operand is)."""
        kind = self.fn.kinds.get(name)
        if kind in ("int", "bool"):
            return scalar(SCALAR_DTYPES[kind])
        ndim = self.fn.ndims.get(name)
        if kind == "float" or (kind in ("array", "buffer") and ndim == 0):
            return scalar(self.float_dtype(operands))
        if kind in ("array", "buffer") and ndim is not None:
            return array(self.float_dtype(operands), ndim)
        if kind == "intarray" and ndim is not None:
            return array("int64", ndim)
        return None

    def float_dtype(self, operands) -> str:
        dtypes = {t.dtype for t in map(self.of, operands) if t is not None and t.kind != "list"}
        return "float32" if dtypes and dtypes <= {"float32", "int64", "bool"} and \
            "float32" in dtypes else "float64"

    def call(self, s: ir.Call) -> ValueType | None:
        listed = self.list_call(s)
        if listed is not None:
            return listed
        operands = list(s.args) + list(s.kwargs.values())
        prim = registry.record(s.fn)
        t = evaluate(s.fn, s.args, s.kwargs, self.of)
        unknown_rank = _elementwise(s.fn) and any(
            isinstance(op, ir.Var) and self.of(op) is None for op in operands)
        if t is None and not unknown_rank:   # (a comparison of arrays is an array)
            t = self.declared(s.target, operands)
            dtype = _explicit_dtype(s)
            if t is not None and dtype is not None and t.kind == "array":
                t = replace(t, dtype=dtype)
        if t is not None and t.kind == "array" and prim is not None and prim.view:
            source = self.of(s.args[0]) if s.args else None
            if source is None or source.layout != "C" or s.fn is np.transpose:
                t = replace(t, layout="A")
        return t

    def getitem(self, s: ir.GetItem) -> ValueType | None:
        source = self.of(s.array)
        if source is None or source.kind != "array":
            return self.declared(s.target, [])
        ndim = _indexed_rank(source.ndim, s.index, self.of)
        if ndim is None:
            t = self.declared(s.target, [])
            return scalar(source.dtype) if t is not None and t.kind == "scalar" else \
                t and array(source.dtype, t.ndim, "A")
        if ndim == 0:
            return scalar(source.dtype)
        return array(source.dtype, ndim, _view_layout(source, s.index))

    # ---- lists: every version of a list has the type of its items
    def list_call(self, s: ir.Call) -> ValueType | None:
        name = getattr(s.fn, "__name__", "")
        if s.fn is tape_rt.stack or (name.startswith("stack_") and getattr(tape_rt, name, None) is s.fn):
            self.list_items[s.target] = s.target
            return ValueType("list", item=_suffix_type(name[len("stack_"):]) if name != "stack" else None)
        if s.fn in (tape_rt.list_append, tape_rt.list_version):
            items = s.args[0]
            self.link_list(s.target, items)
            t = self.of(items) or ValueType("list")
            if s.fn is tape_rt.list_append:
                t = replace(t, item=join(t.item, self.of(s.args[1])))
            return t
        if s.fn is tape_rt.list_pop:
            t = self.of(s.args[0])
            return t.item if t is not None and t.kind == "list" else None
        return None

    def link_list(self, name, op):
        """``name`` is a version of the list ``op`` (if ``op`` is a list)."""
        if isinstance(op, ir.Var) and op.name in self.list_items:
            self.list_items[name] = self._root(op.name)

    def _root(self, name):
        while self.list_items.get(name, name) != name:
            name = self.list_items[name]
        return name

    def settle_lists(self):
        """Give every version of a list the join of all its versions' item types."""
        items: dict[str, ValueType | None] = {}
        for name in self.list_items:
            t = self.env.get(name)
            if t is not None and t.kind == "list":
                root = self._root(name)
                items[root] = join(items.get(root), t.item)
        for name in self.list_items:
            root = self._root(name)
            if root in items:
                self.env[name] = ValueType("list", item=items[root])


def _indexed_rank(ndim: int, index: ir.Index, type_of) -> int | None:
    """The rank of ``a[index]`` for basic indexing (None for advanced indexing)."""
    kept, used = 0, 0
    for part in index.parts:
        if part is Ellipsis:
            continue
        elif part is None or (isinstance(part, ir.Const) and part.value is None):
            kept += 1
        elif isinstance(part, ir.Slice):
            kept += 1
            used += 1
        else:
            t = type_of(part)
            if t is None or t.kind != "scalar" or t.dtype not in ("int64",):
                return None
            used += 1
    if used > ndim:
        return None
    return kept + (ndim - used)


def _explicit_dtype(s: ir.Call) -> str | None:
    dtype = s.kwargs.get("dtype")
    if isinstance(dtype, ir.Const):
        try:
            import numpy as np
            name = np.dtype(dtype.value).name
        except TypeError:
            return None
        return name if name in SUFFIXES else None
    return None


def _view_layout(source: ValueType, index: ir.Index) -> str:
    """Numba's layout of a basic-indexing view: contiguous when integers select leading
    axes and full slices keep the rest; "A" otherwise."""
    if source.layout != "C":
        return "A"
    parts = list(index.parts)
    while parts and _is_int_part(parts[0]):
        parts.pop(0)
    if parts and isinstance(parts[0], ir.Slice):
        parts.pop(0)          # one slice of the leading remaining axis keeps rows contiguous
    return "C" if all(_full_slice(p) or _new_axis(p) for p in parts) else "A"


def _new_axis(part) -> bool:
    return part is None or (isinstance(part, ir.Const) and part.value is None)


def _is_int_part(part) -> bool:
    return not isinstance(part, (ir.Slice, type(None))) and part is not Ellipsis


def _full_slice(part) -> bool:
    return isinstance(part, ir.Slice) and part.lower is None and part.upper is None and part.step is None


def _suffix_type(suffix: str) -> ValueType | None:
    if suffix.startswith("list_"):
        return ValueType("list", item=_suffix_type(suffix[len("list_"):]))
    element, _, dims = suffix.partition("_")
    dtype = {v: k for k, v in SUFFIXES.items()}.get(element)
    if dtype is None:
        return None
    return array(dtype, int(dims[0])) if dims else scalar(dtype)


def refine_kinds(fn: ir.Function, types: dict) -> None:
    """Record scalars, integers and array ranks found where lowering did not know."""
    for name, t in types.items():
        if name not in fn.user_names and name not in fn.params:
            continue
        known = fn.kinds.get(name)
        if known in ("buffer", "shape") or t.kind not in ("scalar", "array") or t.optional:
            continue
        if t.kind == "scalar":
            fn.kinds[name] = {"bool": "bool", "int64": "int"}.get(t.dtype, "float")
        elif t.kind == "array" and known is None:
            fn.kinds[name] = "array"
            fn.ndims.setdefault(name, t.ndim)
