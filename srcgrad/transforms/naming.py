"""Naming: the one namer of generated code.

Every name the transforms invent is a *version* of a readable stem: ``x``, then ``x_1``,
``x_2``... (`fresh_name`), and simplify's last step reads the same scheme backwards
(`stem`: ``s_2`` is a version of ``s``).  `Namer` hands out fresh names that clash with
nothing already taken; `Names` is the namer of one generated function: besides fresh
names it spells SSA values, their adjoints (``dx``), tangents (``x_dot``), tapes
(``tape_x``), trip counters (``trips``) and the module-level objects (constants,
functions, rules) that the generated code refers to by name.

Lowering (``x``, ``x_1`` for SSA values) and canonicalize (flags ``broke``, ``broke1``)
still keep their own counters; `fresh_name` is the scheme they are meant to share.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import math
import operator
import re

import numpy as np

from srcgrad import ir
from srcgrad.runtime import broadcast as broadcast_rt
from srcgrad.runtime import numpy_helpers as helpers_rt
from srcgrad.runtime import tape as tape_rt
from srcgrad.transforms import emit as E
from srcgrad.transforms.lower import GENERATED_GLOBALS

_VERSION = re.compile(r"(.+)_\d+")


def version(base: str, k: int) -> str:
    """The ``k``-th version of ``base``: ``base`` itself for 0, else ``base_k``."""
    return base if k == 0 else f"{base}_{k}"


def fresh_name(base: str, taken, start: int = 0) -> str:
    """The first version of ``base`` (from the ``start``-th) that is not in ``taken``."""
    k = start
    while version(base, k) in taken:
        k += 1
    return version(base, k)


def stem(name: str) -> str | None:
    """The stem ``name`` is a version of (``s`` for ``s_2``), or None for a plain name."""
    match = _VERSION.fullmatch(name)
    return match.group(1) if match else None


class Namer:
    """Fresh names that clash with nothing taken so far."""

    def __init__(self, taken=()):
        self.taken = set(taken)

    def fresh(self, base: str) -> str:
        base = base if base.isidentifier() and not keyword.iskeyword(base) else "t"
        name = fresh_name(base, self.taken)
        self.taken.add(name)
        return name


class Names(Namer):
    """Spellings in the generated module: SSA values, adjoints, tangents, tapes, globals."""

    def __init__(self, fn: ir.Function):
        # "seed" and "value" are kept free in the IR for the adjoint function's own use
        super().__init__(set(GENERATED_GLOBALS) - {"seed", "value"})
        self.fn = fn
        for stmt in ir.walk(fn.body):
            self.taken.update(ir.defined_names(stmt))
            if isinstance(stmt, (ir.For, ir.While)):
                self.taken.update(stmt.carried)
                if isinstance(stmt, ir.For):
                    self.taken.add(stmt.index)
        self.taken.update(fn.params)
        self.adjoints: dict[str, str] = {}
        self.tangents: dict[str, str] = {}
        self.tapes: dict[str, str] = {}
        self.trips: dict[int, str] = {}
        self.namespace: dict = {"np": np, "math": math, "operator": operator,
                                "zeros_like": helpers_rt.zeros_like,
                                "unbroadcast": broadcast_rt.unbroadcast,
                                "stack": tape_rt.stack, "reversed_range": tape_rt.reversed_range,
                                "add_at": tape_rt.add_at, "copy_value": tape_rt.copy_value}
        self.object_names: dict[int, str] = {}

    # ---- values and what the transforms derive from them
    def var(self, ssa: str) -> str:
        return ssa

    def adjoint(self, ssa: str) -> str:
        if ssa not in self.adjoints:
            self.adjoints[ssa] = self.fresh("d" + ssa)
        return self.adjoints[ssa]

    def tangent(self, ssa: str) -> str:
        if ssa not in self.tangents:
            self.tangents[ssa] = self.fresh(f"{ssa}_dot")
        return self.tangents[ssa]

    def tape(self, ssa: str) -> str:
        if ssa not in self.tapes:
            self.tapes[ssa] = self.fresh(f"tape_{ssa}")
        return self.tapes[ssa]

    def trip(self, loop: ir.While) -> str:
        """The counter of a while loop's iterations."""
        if id(loop) not in self.trips:
            self.trips[id(loop)] = self.fresh("trips")
        return self.trips[id(loop)]

    # ---- objects the generated module refers to
    def constant(self, value) -> ast.expr:
        if E.is_literal(value):
            return E.const(value)
        if isinstance(value, (np.floating, np.integer, np.bool_)):
            return E.const(value.item())
        if isinstance(value, tuple) and all(E.is_literal(v) for v in value):
            return E.tuple_([E.const(v) for v in value])
        if isinstance(value, slice):
            return E.call("slice", [self.constant(value.start), self.constant(value.stop),
                                    self.constant(value.step)])
        return E.name(self.global_ref(value, "const"))

    def global_ref(self, obj, preferred: str) -> str:
        """Bind ``obj`` in the generated module's namespace and return its name."""
        key = id(obj)
        if key in self.object_names:
            return self.object_names[key]
        for k, v in self.namespace.items():
            if v is obj:
                self.object_names[key] = k
                return k
        base = preferred if preferred.isidentifier() else "obj"
        name = fresh_name(base, self.namespace.keys() | self.taken)
        self.namespace[name] = obj
        self.object_names[key] = name
        return name

    def function(self, fn, spelling: str) -> ast.expr:
        """An expression naming ``fn``: its usual spelling if that resolves to it."""
        parts = spelling.split(".")
        obj = self.namespace.get(parts[0], None)
        if obj is None and parts[0] in builtins.__dict__ and len(parts) == 1:
            if getattr(builtins, parts[0]) is fn:
                return E.name(parts[0])
        for p in parts[1:]:
            obj = getattr(obj, p, None)
        if obj is fn:
            return E.dotted(spelling)
        return E.name(self.global_ref(fn, getattr(fn, "__name__", "fn")))
