"""Reverse: build the adjoint program (forward sweep, then reverse sweep) from the IR.

The generated function ``f_vjp(*params, seed)`` returns ``(value, grads)``.

* The forward sweep is the primal, plus tape pushes for values the reverse sweep needs
  that it cannot see otherwise: values defined inside a loop (each iteration overwrites
  them) unless they are cheap to recompute from what is available, trip counts of while
  loops, and copies of arrays that are later written in place.  Everything else
  (values defined once) is read directly, so straight-line code records nothing.
* The reverse sweep walks each block backwards, inlining rule templates from the
  registry.  A value's adjoint ``d<name>`` is created by its first contribution; one
  that receives element-wise updates (``dx[i] += ...``) or belongs to an array written
  in place starts as zeros and is updated in place, and is never shared with another.
* Loops run backwards over the same index values (``range`` loops) or the recorded trip
  count (``while``); their carried adjoints travel in the adjoint variables of the
  loop's outputs.  Branches replay the recorded (or still visible) condition.
"""

from __future__ import annotations

import ast
import copy
import inspect
import keyword
import operator
from dataclasses import dataclass, field

import numpy as np

from srcgrad import ir
from srcgrad.errors import NonDifferentiableError, SrcgradError
from srcgrad.rules import registry
from srcgrad.rules.effects import is_effect
from srcgrad.runtime import broadcast as broadcast_rt
from srcgrad.runtime import numpy_helpers as helpers_rt
from srcgrad.runtime import tape as tape_rt
from srcgrad.runtime.tape import list_append, list_pop, list_version
from srcgrad.transforms import emit as E
from srcgrad.transforms.infer_types import dummy_value, tape_suffix
from srcgrad.transforms.lower import GENERATED_GLOBALS
from srcgrad.transforms.parse import find_lambda

CHEAP_RECOMPUTE = {operator.add, operator.sub, operator.mul, operator.neg, operator.pos, operator.pow,
                   operator.truediv, operator.floordiv, operator.mod, len, min, max, abs}
# results shaped like the broadcast of their operands (ufuncs too)
SHAPE_PRESERVING = {operator.add, operator.sub, operator.mul, operator.neg, operator.pos,
                    operator.pow, operator.truediv, operator.floordiv, operator.mod, abs,
                    np.where, np.clip, np.copy}
REDUCTIONS = {np.sum, np.mean, np.prod, np.max, np.min, np.var, np.std}


class Names:
    """Spellings in the generated module: SSA values, adjoints, tapes, globals."""

    def __init__(self, fn: ir.Function):
        self.fn = fn
        # "seed" and "value" are kept free in the IR for the adjoint function's own use
        self.taken = set(GENERATED_GLOBALS) - {"seed", "value"}
        for stmt in ir.walk(fn.body):
            self.taken.update(ir.defined_names(stmt))
            if isinstance(stmt, (ir.For, ir.While)):
                self.taken.update(stmt.carried)
                if isinstance(stmt, ir.For):
                    self.taken.add(stmt.index)
        self.taken.update(fn.params)
        self.adjoints: dict[str, str] = {}
        self.namespace: dict = {"np": np, "math": __import__("math"), "operator": operator,
                                "zeros_like": helpers_rt.zeros_like,
                                "unbroadcast": broadcast_rt.unbroadcast,
                                "stack": tape_rt.stack, "reversed_range": tape_rt.reversed_range,
                                "add_at": tape_rt.add_at, "copy_value": tape_rt.copy_value}
        self.object_names: dict[int, str] = {}

    def fresh(self, base: str) -> str:
        base = base if base.isidentifier() and not keyword.iskeyword(base) else "t"
        name, k = base, 1
        while name in self.taken:
            name = f"{base}_{k}"
            k += 1
        self.taken.add(name)
        return name

    def var(self, ssa: str) -> str:
        return ssa

    def adjoint(self, ssa: str) -> str:
        if ssa not in self.adjoints:
            self.adjoints[ssa] = self.fresh("d" + ssa)
        return self.adjoints[ssa]

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
        name = base
        k = 1
        while name in self.namespace or name in self.taken:
            name = f"{base}_{k}"
            k += 1
        self.namespace[name] = obj
        self.object_names[key] = name
        return name

    def function(self, fn, spelling: str) -> ast.expr:
        """An expression naming ``fn``: its usual spelling if that resolves to it."""
        parts = spelling.split(".")
        obj = self.namespace.get(parts[0], None)
        if obj is None and parts[0] in __import__("builtins").__dict__ and len(parts) == 1:
            if getattr(__import__("builtins"), parts[0]) is fn:
                return E.name(parts[0])
        for p in parts[1:]:
            obj = getattr(obj, p, None)
        if obj is fn:
            return E.dotted(spelling)
        return E.name(self.global_ref(fn, getattr(fn, "__name__", "fn")))


# ----------------------------------------------------------------------- rule inlining
_LAMBDA_CACHE: dict[int, ast.Lambda | None] = {}
_SCOPED = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.NamedExpr)


def _rule_lambda(rule):
    key = id(rule)
    if key not in _LAMBDA_CACHE:
        node = None
        if getattr(rule, "__name__", "") == "<lambda>":
            node = find_lambda(rule, ast)
        if node is not None and any(isinstance(n, _SCOPED) for n in ast.walk(node.body)):
            node = None              # names bound inside the body: call the rule instead
        _LAMBDA_CACHE[key] = node
    return _LAMBDA_CACHE[key]


class _Substitute(ast.NodeTransformer):
    def __init__(self, mapping, resolve):
        self.mapping = mapping
        self.resolve = resolve

    def visit_Name(self, node):
        if node.id in self.mapping:
            return copy.deepcopy(self.mapping[node.id])
        return self.resolve(node)


def inline_rule(rule, names: Names, args: dict[str, ast.expr]) -> ast.expr:
    """The rule's body with its parameters replaced by ``args``, or a call to the rule."""
    node = _rule_lambda(rule)
    params = list(inspect.signature(rule).parameters)
    if node is None:
        ref = names.global_ref(rule, getattr(rule, "__name__", "rule").strip("<>") or "rule")
        return E.call(E.name(ref), [args[p] for p in params if p in args])
    closure = {}
    if rule.__closure__:
        closure = dict(zip(rule.__code__.co_freevars, (c.cell_contents for c in rule.__closure__)))

    def resolve(name_node):
        ident = name_node.id
        if ident in closure:
            obj = closure[ident]
        elif ident in rule.__globals__:
            obj = rule.__globals__[ident]
        else:
            obj = getattr(__import__("builtins"), ident)
        if E.is_literal(obj):
            return E.const(obj)
        return E.name(names.global_ref(obj, ident))
    body = _Substitute(args, resolve).visit(copy.deepcopy(node.body))
    return body


# ----------------------------------------------------------------------- the pass
@dataclass
class Layout:
    """How a loop's recorded values map into histories allocated before ``root``."""

    root: "ir.For"                 # the outermost loop: histories are allocated before it
    index: object                  # () -> expression: the slot of the current iteration
    size: object                   # () -> expression: slots needed, valid before root
    root_setup: list               # trip counts of inner loops, computed before root


@dataclass
class Block:
    """Reverse-sweep state of one block: what is defined here and what has an adjoint."""

    defs: set
    in_loop: bool
    initialized: set = field(default_factory=set)
    parent: "Block | None" = None
    history: "Layout | None" = None     # values here are taped in preallocated histories

    def is_initialized(self, v):
        b = self
        while b is not None:
            if v in b.initialized:
                return True
            b = b.parent
        return False


class Reverse:
    def __init__(self, fn: ir.Function, active: set, wrt: list[str], typemap=None):
        self.fn = fn
        self.typemap = typemap or {}
        self.active = active
        self.wrt = wrt
        self.names = Names(fn)
        self.defs_at: dict[str, int] = {}
        self.stmt_of: dict[str, object] = {}
        self.mutable = self._mutable_adjoints()
        self.stored_groups = {fn.buffer_group[s.target] for s in ir.walk(fn.body)
                              if _writes_in_place(s) and s.target in fn.buffer_group}
        self._top_positions()
        self.item_of: dict[str, str] = {}       # synthetic tuple item -> its tuple
        self.history: dict[str, Layout] = {}   # values written to a loop's history
        self._inside: dict[int, set] = {}
        self.record: set[str] = set()      # values pushed on a tape in the forward sweep
        self.snapshot: set[str] = set()    # top-level arrays copied before being overwritten
        self.trip_names: dict[int, str] = {}
        self.tapes: dict[str, str] = {}
        for stmt in ir.walk(fn.body):
            for n in ir.defined_names(stmt):
                self.stmt_of[n] = stmt
        self.carried_sources = {c: (init, y) for loop in ir.walk(fn.body)
                                if isinstance(loop, (ir.For, ir.While))
                                for c, init, y in zip(loop.carried, loop.inits, loop.yields)}

    # --------------------------------------------------------------- analyses
    def _mutable_adjoints(self) -> set[str]:
        """Adjoints updated in place: indexed reads, in-place arrays, and what they rename."""
        fn = self.fn
        mutable = {n for n, k in fn.kinds.items() if k in ("buffer", "list")}
        links: list[tuple[str, str]] = []
        for s in ir.walk(fn.body):
            if isinstance(s, ir.GetItem) and isinstance(s.array, ir.Var):
                mutable.add(s.array.name)
            if isinstance(s, ir.Store):
                links.append((s.target, s.array.name))
            elif _writes_in_place(s):
                links.append((s.target, s.args[0].name))
            if isinstance(s, (ir.For, ir.While)):
                for c, y, o in zip(s.carried, s.yields, s.outs):
                    links.append((c, o))
                    if isinstance(y, ir.Var):
                        links.append((y.name, o))
        changed = True
        while changed:
            changed = False
            for a, b in links:
                if (a in mutable) != (b in mutable):
                    mutable.update((a, b))
                    changed = True
        return mutable & self.active

    def _scalar_name(self, node) -> bool:
        if isinstance(node, ast.Name):
            return self.fn.kinds.get(node.id) in ("float", "int", "bool")
        return isinstance(node, ast.Constant) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant))

    def mutated_later(self, v) -> bool:
        """Whether the array ``v`` names may be overwritten in place after its definition."""
        g = self.fn.buffer_group.get(v, self.fn.view_group.get(v))
        if g is None or g not in self.stored_groups:
            return False
        position = self.top_position.get(v)
        if position is None:
            return True              # defined inside a loop or branch: be conservative
        return any(g in stored for stored in self.stores_from[position + 2:])

    def locations(self) -> dict:
        """Generated name -> the user's source location it comes from (for error messages)."""
        where = {}
        for stmt in ir.walk(self.fn.body):
            for n in ir.defined_names(stmt):
                where[n] = stmt.loc
        for ssa, adjoint in self.names.adjoints.items():
            if ssa in where:
                where[adjoint] = where[ssa]
        return where

    def _top_positions(self):
        """Top-level statement index of each top-level value, and groups stored from each."""
        self.top_position = {p: -1 for p in self.fn.params}
        self.stores_from = []
        for k, s in enumerate(self.fn.body):
            for n in ir.defined_names(s):
                self.top_position[n] = k
            groups = {self.fn.buffer_group.get(st.target) for st in ir.walk([s])
                      if _writes_in_place(st)}
            self.stores_from.append(groups)
        self.stores_from = [set()] + self.stores_from

    # --------------------------------------------------------------- adjoint helpers
    def d(self, v):
        return self.names.adjoint(v)

    def contribute(self, v: str, value: ast.expr, block: Block, out: list, move=False):
        """Add ``value`` to the adjoint of ``v``, creating it on first use.

        ``move`` says ``value`` is an adjoint nobody reads afterwards, so even an adjoint
        updated in place may take it over instead of copying it.
        """
        if v not in self.active:
            return
        if self.fn.kinds.get(v) == "list":
            # all versions of a list are one object, and so is its adjoint: a contribution
            # is always the whole adjoint list, handed on
            out.append(E.assign(self.d(v), value))
            self.owner_block(v, block).initialized.add(v)
            return
        if move and v in self.mutable and not block.is_initialized(v):
            out.append(E.assign(self.d(v), value))
            self.owner_block(v, block).initialized.add(v)
            return
        dv = self.d(v)
        if block.is_initialized(v):
            if v in self.mutable:
                out.append(E.aug_add(E.name(dv), value))
            else:
                out.append(E.assign(dv, E.add(E.name(dv), value)))
            return
        if v in self.mutable:
            out.append(E.assign(dv, self.zeros(v)))
            out.append(E.aug_add(E.name(dv), value))
        else:
            out.append(E.assign(dv, value))
        self.owner_block(v, block).initialized.add(v)

    def zeros(self, v):
        """A zero adjoint for ``v``: a literal for float64 scalars, else ``zeros_like(v)``."""
        if v in self.typemap and tape_suffix(self.typemap[v]) == "f64" and \
                self.fn.kinds.get(v) != "list":
            return E.const(0.0)
        return E.call(E.name("zeros_like"), [E.name(self.names.var(v))])

    def init_zero(self, v, block: Block, out: list):
        if v in self.fn.arity:
            for i in range(self.fn.arity[v]):
                item = self._item(v, i)
                if not block.is_initialized(item):
                    element = E.subscript(E.name(self.names.var(v)), E.const(i))
                    out.append(E.assign(self.d(item), E.call("zeros_like", [element])))
                    self.owner_block(item, block).initialized.add(item)
            return
        if v in self.active and not block.is_initialized(v):
            out.append(E.assign(self.d(v), self.zeros(v)))
            self.owner_block(v, block).initialized.add(v)

    def owner_block(self, v, block: Block) -> Block:
        v = self.item_of.get(v, v)
        b = block
        while b is not None:
            if v in b.defs:
                return b
            b = b.parent
        return block

    # --------------------------------------------------------------- build
    def build(self, fn_name: str) -> ast.FunctionDef:
        fn = self.fn
        self.names.taken.add(fn_name)
        top = Block(defs=set(fn.params) | self._defs(fn.body), in_loop=False)
        seed = self.names.fresh("seed")
        value = self.names.fresh("value")
        rev: list = []
        self.seed_result(fn.result, E.name(seed), top, rev)
        rev += self.rev_block(fn.body, top)
        restores = self.restores(fn.body, top, rev, fn.params)
        grads = []
        for w in self.wrt:
            if top.is_initialized(w):
                grads.append(E.name(self.d(w)))
            else:
                grads.append(self.zeros(w))
        forward = [st for p in fn.params for st in self.push(p)] + self.fwd_block(fn.body)
        body = (self.tape_setup() + forward + [E.assign(value, E.operand(fn.result, self.names))]
                + restores + rev + [E.return_(E.tuple_([E.name(value), E.tuple_(grads)]))])
        return E.function(fn_name, list(fn.params) + [seed], body)

    def seed_result(self, result, seed: ast.expr, block: Block, out: list):
        if isinstance(result, ir.Var):
            self.contribute(result.name, seed, block, out)
        elif isinstance(result, ir.Seq):
            for i, item in enumerate(result.items):
                self.seed_result(item, E.subscript(seed, E.const(i)), block, out)

    def _defs(self, body) -> set:
        out = set()
        for s in body:
            out.update(ir.defined_names(s))
        return out

    # --------------------------------------------------------------- reverse sweep
    def rev_block(self, body, block: Block) -> list:
        out: list = []
        for stmt in reversed(body):
            out += self.rev_stmt(stmt, block)
        return out

    def rev_stmt(self, s, block: Block) -> list:
        out: list = []
        if isinstance(s, ir.Call):
            self.rev_call(s, block, out)
        elif isinstance(s, ir.GetItem):
            self.rev_getitem(s, block, out)
        elif isinstance(s, ir.Store):
            self.rev_store(s, block, out)
        elif isinstance(s, ir.Copy):
            if s.target in self.active and block.is_initialized(s.target) and isinstance(s.value, ir.Var):
                self.contribute(s.value.name, E.name(self.d(s.target)), block, out)
        elif isinstance(s, ir.If):
            self.rev_if(s, block, out)
        elif isinstance(s, (ir.For, ir.While)):
            self.rev_loop(s, block, out)
        return out

    def _bind(self, prim, s: ir.Call):
        sig = prim.signature
        try:
            bound = sig.bind(*s.args, **s.kwargs)
        except TypeError as exc:
            raise SrcgradError(f"cannot bind the arguments of {prim.name}: {exc}", s.loc, "call")
        bound.apply_defaults()
        return bound

    def rev_call(self, s: ir.Call, block: Block, out: list):
        t = s.target
        prim = registry.lookup(s.fn)
        if prim.structural:
            self.rev_list(s, block, out)
            return
        if t not in self.active or not self._has_adjoint(t, block) or prim.nondiff:
            return
        if prim.joint is not None:
            self.rev_joint(s, prim, block, out)
            return
        bound = self._bind(prim, s)
        params = list(prim.signature.parameters)
        exprs = {"g": E.name(self.d(t)), "ans": E.name(self.names.var(t))}
        for p, value in bound.arguments.items():
            if isinstance(value, (ir.Var, ir.Const, ir.Seq, ir.Slice, ir.Index)):
                exprs[p] = E.operand(value, self.names)
            else:
                exprs[p] = self.names.constant(value)
        for pos, pname in enumerate(params):
            value = bound.arguments.get(pname)
            if not isinstance(value, (ir.Var, ir.Seq)):
                continue
            items = [value] if isinstance(value, ir.Var) else list(value.items)
            active_items = [i for i, it in enumerate(items) if isinstance(it, ir.Var) and it.name in self.active]
            if not active_items:
                continue
            rule = prim.vjps.get(pos)
            if rule is registry.ZERO:
                continue
            if rule is None:
                raise NonDifferentiableError(
                    f"{prim.name} has no derivative with respect to its argument '{pname}'",
                    s.loc, prim.name)
            rule_params = list(inspect.signature(rule).parameters)
            leading = ["g", "ans"]
            if pos in prim.into:           # the rule adds into the list's adjoint itself
                self.list_adjoint(value.name, block, out)
                exprs["adjoint"] = E.name(self.d(value.name))
                leading = ["adjoint"] + leading
            args = {rp: exprs[rp2] for rp, rp2 in zip(rule_params, leading + params)
                    if rp2 in exprs}
            expr = inline_rule(rule, self.names, args)
            if self.scalar_call(s):
                expr = _Unbroadcast(self._scalar_name).visit(expr)
            if isinstance(value, ir.Seq) and pos not in prim.seq_params:
                raise NonDifferentiableError(
                    f"a {value.kind} of values is passed as '{pname}' of {prim.name}, which takes "
                    f"a single number or array; unpack it first, or make it an array "
                    f"(np.array(...))", s.loc, prim.name)
            if pos in prim.seq_params and isinstance(value, ir.Seq):
                tmp = self.names.fresh(self.d(t) + "_parts")
                out.append(E.assign(tmp, expr))
                for i in active_items:
                    self.contribute(items[i].name, E.subscript(E.name(tmp), E.const(i)), block, out)
            else:
                self.contribute(value.name, expr, block, out)

    def scalar_call(self, s: ir.Call) -> bool:
        """Whether the call maps scalars to a scalar, so rules need no (un)broadcasting.

        A scalar result alone is not enough: ``unbroadcast(g, x)`` sums an array to one.
        """
        scalar = ("float", "int", "bool")
        if self.fn.kinds.get(s.target) not in ("float", "int"):
            return False
        return all(self.fn.kinds.get(n) in scalar for op in list(s.args) + list(s.kwargs.values())
                   for n in ir.operand_vars(op))

    def rev_joint(self, s: ir.Call, prim, block: Block, out: list):
        """One call of a rule that returns every argument's cotangent, then contributions."""
        active = [(i, a.name) for i, a in enumerate(s.args)
                  if isinstance(a, ir.Var) and a.name in self.active]
        if not active:
            return
        t = s.target
        parts = self.names.fresh(self.d(t) + "_parts")
        rule = E.name(self.names.global_ref(prim.joint, prim.fn.__name__ + "_vjp"))
        args = [self._cotangent(t, block), E.name(self.names.var(t))] + \
            [E.operand(a, self.names) for a in s.args]
        out.append(E.assign(parts, E.call(rule, args)))
        for i, name in active:
            self.contribute(name, E.subscript(E.name(parts), E.const(i)), block, out)

    # ---- lists: the adjoint list mirrors the primal one, operations undone in reverse
    def rev_list(self, s: ir.Call, block: Block, out: list):
        """Undo one list operation on the adjoint list.

        An append's adjoint pops the appended value's cotangent; a pop's pushes the popped
        value's cotangent back.  Every operation on an active list is undone (even one whose
        value has no derivative), so the adjoint list always has the primal's length.
        """
        items = s.args[0].name
        if items not in self.active:
            return
        if s.fn is list_pop:
            self.list_adjoint(items, block, out)
            v = s.target
            dv = E.name(self.d(v)) if v in self.active and block.is_initialized(v) else \
                E.call("zeros_like", [E.name(self.names.var(v))])
            out.append(E.expr_stmt(E.call(E.attr(E.name(self.d(items)), "append"), [dv])))
            return
        self.list_adjoint(s.target, block, out)
        d_new = E.name(self.d(s.target))
        if s.fn is list_append:
            popped = E.call(E.attr(d_new, "pop"), [])
            value = s.args[1]
            if isinstance(value, ir.Var) and value.name in self.active:
                self.contribute(value.name, popped, block, out)
            else:
                out.append(E.expr_stmt(popped))
        self.contribute(items, d_new, block, out)

    def list_adjoint(self, v, block: Block, out: list):
        """Make sure the adjoint list of ``v`` exists (zeros for what the list holds now)."""
        if not block.is_initialized(v):
            out.append(E.assign(self.d(v), E.call("zeros_like", [E.name(self.names.var(v))])))
            self.owner_block(v, block).initialized.add(v)

    # ---- tuples returned by calls: one adjoint per item
    def _item(self, x, i) -> str:
        """The synthetic value standing for item ``i`` of the tuple ``x``."""
        name = f"{x}_item{i}"
        if name not in self.item_of:
            self.item_of[name] = x
            self.active.add(name)
        return name

    def _has_adjoint(self, t, block: Block) -> bool:
        if t in self.fn.arity:
            return any(block.is_initialized(self._item(t, i)) for i in range(self.fn.arity[t]))
        return block.is_initialized(t)

    def _cotangent(self, t, block: Block) -> ast.expr:
        """The adjoint of ``t`` as one expression (a tuple for a tuple of results)."""
        if t not in self.fn.arity:
            return E.name(self.d(t))
        items = []
        for i in range(self.fn.arity[t]):
            item = self._item(t, i)
            items.append(E.name(self.d(item)) if block.is_initialized(item) else
                         E.call("zeros_like", [E.subscript(E.name(self.names.var(t)), E.const(i))]))
        return E.tuple_(items)

    def rev_getitem(self, s: ir.GetItem, block: Block, out: list):
        t = s.target
        if t not in self.active or not block.is_initialized(t) or not isinstance(s.array, ir.Var):
            return
        x = s.array.name
        if x not in self.active:
            return
        if x in self.fn.arity:
            self.contribute(self._item(x, s.index.parts[0].value), E.name(self.d(t)), block, out)
            return
        if not block.is_initialized(x):
            self.init_zero(x, block, out)
        index = E.operand(s.index, self.names)
        if self._basic_index(s.index):
            out.append(E.aug_add(E.subscript(E.name(self.d(x)), index), E.name(self.d(t))))
        else:
            out.append(E.expr_stmt(E.call(E.name("add_at"), [E.name(self.d(x)), index, E.name(self.d(t))])))

    def _basic_index(self, index: ir.Index) -> bool:
        for p in index.parts:
            if p is None or p is Ellipsis or isinstance(p, ir.Slice) or (
                    isinstance(p, ir.Const) and (p.value is None or p.value is Ellipsis)):
                continue
            if isinstance(p, ir.Const) and isinstance(p.value, (int, np.integer)):
                continue
            if isinstance(p, ir.Var) and self.fn.kinds.get(p.name) == "int":
                continue
            return False
        return True

    def rev_store(self, s: ir.Store, block: Block, out: list):
        u2, u1 = s.target, s.array.name
        if u2 not in self.active or not block.is_initialized(u2):
            return
        du2 = E.name(self.d(u2))
        index = E.operand(s.index, self.names)
        later = None                 # u[...] = u: the value's cotangent joins du1 after
        if isinstance(s.value, ir.Var) and s.value.name in self.active:
            piece = E.subscript(du2, index)
            if not self._scalar_index(s):
                piece = E.call("unbroadcast", [E.call("np.copy", [piece]), E.name(self.names.var(s.value.name))])
            if s.value.name == u1:
                later = self.names.fresh(f"{self.d(u1)}_stored")
                out.append(E.assign(later, piece))
            else:
                self.contribute(s.value.name, piece, block, out)
        out.append(E.assign(E.subscript(du2, index, store=True), E.const(0.0)))
        if u1 in self.active:
            out.append(E.assign(self.d(u1), du2))
            self.owner_block(u1, block).initialized.add(u1)
        if later is not None:
            self.contribute(u1, E.name(later), block, out)

    def _scalar_index(self, s: ir.Store) -> bool:
        parts = s.index.parts
        return all((isinstance(p, ir.Const) and isinstance(p.value, (int, np.integer))) or
                   (isinstance(p, ir.Var) and self.fn.kinds.get(p.name) == "int") for p in parts) and \
            self._ndim(s.array.name) == len(parts)

    def _ndim(self, v):
        return getattr(self.fn, "ndims", {}).get(v)

    def _pre_init(self, s, block: Block, out: list):
        """Create, before a compound statement's reverse, adjoints it updates from inside."""
        for v in sorted(self._contributed_inside(s)):
            if v in self.active and not block.is_initialized(v) and v not in self._inner_defs(s):
                self.init_zero(v, block, out)

    def _inner_defs(self, s) -> set:
        names = set()
        for sub in ir.nested_bodies(s):
            for st in ir.walk(sub):
                names.update(ir.defined_names(st))
                if isinstance(st, (ir.For, ir.While)):
                    names.update(st.carried)
        if isinstance(s, (ir.For, ir.While)):
            names.update(s.carried)
        return names

    def _contributed_inside(self, s) -> set:
        names = set()
        for sub in ir.nested_bodies(s):
            for st in ir.walk(sub):
                for op in ir.used_operands(st):
                    names.update(ir.operand_vars(op))
                if isinstance(st, ir.If):
                    for y in st.then_yields + st.else_yields:
                        names.update(ir.operand_vars(y))
                if isinstance(st, (ir.For, ir.While)):
                    for y in st.yields:
                        names.update(ir.operand_vars(y))
        if isinstance(s, ir.If):
            for y in s.then_yields + s.else_yields:
                names.update(ir.operand_vars(y))
        if isinstance(s, (ir.For, ir.While)):
            for y in s.yields:
                names.update(ir.operand_vars(y))
        return names

    def rev_if(self, s: ir.If, block: Block, out: list):
        live = [i for i, o in enumerate(s.outs) if o in self.active and block.is_initialized(o)]
        inner_active = any(n in self.active for n in self._inner_defs(s))
        if not live and not inner_active:
            return
        self._pre_init(s, block, out)
        branches = []
        for body, yields in ((s.then_body, s.then_yields), (s.else_body, s.else_yields)):
            sub = Block(defs=self._defs(body), in_loop=block.in_loop, parent=block)
            code: list = []
            for i in live:
                y = yields[i]
                if isinstance(y, ir.Var):
                    self.contribute(y.name, E.name(self.d(s.outs[i])), sub, code, move=True)
            code += self.rev_block(body, sub)
            code = self.restores(body, sub, code) + code
            branches.append(code)
        if not branches[0] and not branches[1]:
            return
        cond = E.operand(s.cond, self.names)
        if branches[0]:
            out.append(E.if_(cond, branches[0], branches[1]))
        else:
            out.append(E.if_(E.not_(cond), branches[1]))

    def rev_loop(self, s, block: Block, out: list):
        live = [j for j, (c, o) in enumerate(zip(s.carried, s.outs)) if o in self.active or c in self.active]
        inner_active = any(n in self.active for n in self._inner_defs(s))
        if not live and not inner_active:
            return
        self._pre_init(s, block, out)
        for j in live:
            self.init_zero(s.outs[j], block, out)
        defs = self._defs(s.body) | set(s.carried)
        if isinstance(s, ir.For):
            defs.add(s.index)
        sub = Block(defs=defs, in_loop=True, parent=block, history=self.layout(s, block))
        code: list = []
        # the adjoint arriving at the end of an iteration flows into what the body yielded
        for j in live:
            y = s.yields[j]
            if isinstance(y, ir.Var) and y.name in self.active:
                self.contribute(y.name, E.name(self.d(s.outs[j])), sub, code, move=True)
        code += self.rev_block(s.body, sub)
        tail_targets, tail_values = [], []
        for j in live:
            c = s.carried[j]
            tail_targets.append(self.d(s.outs[j]))
            tail_values.append(E.name(self.d(c)) if sub.is_initialized(c) and c in self.active
                               else self.zeros(c))
        if tail_targets:
            code.append(E.assign_many(tail_targets, tail_values))
        code = self.restores(s.body, sub, code, extra=list(s.carried)) + code
        if isinstance(s, ir.For):
            loop = self.reverse_range(s, code)
        else:
            trip = self.trip_name(s)
            loop = E.for_range("_", [E.name(trip)], code)
        out.append(loop)
        for j in live:
            init = s.inits[j]
            if isinstance(init, ir.Var) and init.name in self.active:
                self.contribute(init.name, E.name(self.d(s.outs[j])), block, out, move=True)

    def reverse_range(self, s: ir.For, code):
        start, stop, step = (E.operand(o, self.names) for o in (s.start, s.stop, s.step))
        index = self.names.var(s.index)
        if isinstance(s.step, ir.Const) and s.step.value == 1:
            first = E.sub(stop, E.const(1))
            last = E.sub(start, E.const(1)) if not (isinstance(s.start, ir.Const) and s.start.value == 0) \
                else E.const(-1)
            if isinstance(s.start, ir.Const) and s.start.value != 0:
                last = E.const(s.start.value - 1)
            return E.for_range(index, [first, last, E.const(-1)], code)
        bounds = self.names.fresh(f"{index}_bounds")
        loop = E.for_range(index, [E.subscript(E.name(bounds), E.const(k)) for k in range(3)], code)
        return _Seq([E.assign(bounds, E.call("reversed_range", [start, stop, step])), loop])

    def trip_name(self, s: ir.While) -> str:
        key = id(s)
        if key not in self.trip_names:
            self.trip_names[key] = self.names.fresh("trips")
        return self.trip_names[key]

    # --------------------------------------------------------------- what the reverse reads
    def restores(self, body, block: Block, code: list, params=(), extra=()) -> list:
        """Statements that make this block's values visible again at its reverse start."""
        used, shape_used = _read_names(code)
        local = {c: None for c in extra}     # carried values exist from the iteration's start
        for s in body:
            for n in ir.defined_names(s):
                local[n] = s
        for s in body:
            if isinstance(s, ir.While) and self.trip_name(s) in used and block.in_loop:
                local[self.trip_name(s)] = s
        needed = [n for n in local if n in used]
        if block.in_loop:      # a read of a shape needs the value if its shape may change
            memo: dict[str, bool] = {}
            needed += [n for n in local if n in shape_used and n not in used
                       and not self._shape_fixed(n, local, memo)]
        if not block.in_loop:
            # values defined once stay visible; only arrays written in place later need a copy
            restores = []
            for n in needed:
                if n in local and self.mutated_later(n):
                    self.snapshot.add(n)
                    restores.append(E.assign(n, E.name(self.tape(n))))
            for p in params:
                if p in used and self.mutated_later(p):
                    self.snapshot.add(p)
                    restores.append(E.assign(p, E.name(self.tape(p))))
            return restores
        order = {n: i for i, n in enumerate(local)}
        plan: dict[str, object] = {}
        pending = list(needed)
        memo: dict[str, bool] = {}
        while pending:
            n = pending.pop()
            if n in plan:
                continue
            s = local.get(n)
            if self._rebuildable(n, local, memo):
                plan[n] = s
                for op in ir.used_operands(s):
                    for dep in ir.operand_vars(op):
                        if dep in local and dep not in plan:
                            pending.append(dep)
            else:
                plan[n] = "pop"
        stmts = []
        for n in sorted(plan, key=lambda k: order[k]):
            how = plan[n]
            if how == "pop" and block.history is not None and self._history_suffix(n):
                self.history[n] = block.history
                stmts.append(E.assign(n, E.subscript(E.name(self.tape(n)), block.history.index())))
            elif how == "pop":
                self.record.add(n)
                stmts.append(E.assign(n, E.call(E.attr(E.name(self.tape(n)), "pop"), [])))
            else:
                stmts.append(self.fwd_simple(how))
        return stmts

    def _shape_fixed(self, n, local, memo) -> bool:
        """Whether ``n`` has the same shape in every iteration of the loop defining ``local``
        (so reading its shape in the reverse sweep needs no restore).  Conservative."""
        if n not in local or self.fn.kinds.get(n) in ("float", "int", "bool"):
            return True
        if n not in memo:
            memo[n] = True                   # optimistic around loop-carried cycles
            memo[n] = self._shape_fixed_at(local[n], n, local, memo)
        return memo[n]

    def _operand_fixed(self, op, local, memo) -> bool:
        if isinstance(op, ir.Slice):
            return all(b is None or isinstance(b, ir.Const) or b.name not in local
                       for b in (op.lower, op.upper, op.step))
        if isinstance(op, ir.Index):
            return all(self._operand_fixed(p, local, memo) for p in op.parts)
        return all(self._shape_fixed(d, local, memo) for d in ir.operand_vars(op))

    def _shape_fixed_at(self, s, n, local, memo) -> bool:
        if self.fn.kinds.get(n) == "list":
            return False                     # a list's length changes as it is built
        if s is None:                        # a carried value: as its init and its yield
            loop_ops = self.carried_sources.get(n, ())
            return all(self._operand_fixed(op, local, memo) for op in loop_ops)
        if isinstance(s, ir.Copy):
            return self._operand_fixed(s.value, local, memo)
        if isinstance(s, ir.GetItem):
            return self._operand_fixed(s.array, local, memo) and \
                self._operand_fixed(s.index, local, memo)
        if isinstance(s, ir.Store):
            return self._operand_fixed(s.array, local, memo)
        if isinstance(s, ir.If):
            k = s.outs.index(n)
            return self._operand_fixed(s.then_yields[k], local, memo) and \
                self._operand_fixed(s.else_yields[k], local, memo)
        if isinstance(s, (ir.For, ir.While)):
            k = s.outs.index(n)
            return self._operand_fixed(s.inits[k], local, memo) and \
                self._operand_fixed(s.yields[k], local, memo)
        if isinstance(s, ir.Call) and (s.fn in SHAPE_PRESERVING or isinstance(s.fn, np.ufunc)
                                       or s.fn in REDUCTIONS):
            return all(self._operand_fixed(op, local, memo)
                       for op in list(s.args) + list(s.kwargs.values()))
        return False

    def _rebuildable(self, n, local, memo) -> bool:
        """Whether ``n`` can be recomputed from visible values and carried values alone.

        A value whose inputs would themselves need the tape is taped directly instead:
        one entry per iteration rather than one per input.
        """
        if n not in memo:
            s = local.get(n)
            memo[n] = False
            if s is not None and self._recomputable(s, local):
                deps = [d for op in ir.used_operands(s) for d in ir.operand_vars(op) if d in local]
                memo[n] = all(local[d] is None or self._rebuildable(d, local, memo) for d in deps)
        return memo[n]

    def _recomputable(self, s, local) -> bool:
        """Cheap pure statements whose inputs are visible are recomputed instead of taped."""
        if isinstance(s, ir.GetItem):
            arr = s.array
            if isinstance(arr, ir.Var) and (self.fn.kinds.get(arr.name) in ("buffer", "list")
                                            or self.mutated_later(arr.name) or arr.name in local):
                return False
            return True
        if isinstance(s, ir.Call):
            if s.fn not in CHEAP_RECOMPUTE and not isinstance(s.fn, np.ufunc):
                return False
            for op in list(s.args) + list(s.kwargs.values()):
                for dep in ir.operand_vars(op):
                    if self.fn.kinds.get(dep) in ("buffer", "list"):
                        return False
            return True
        return False

    def tape(self, n: str) -> str:
        if n not in self.tapes:
            self.tapes[n] = self.names.fresh(f"tape_{n}")
        return self.tapes[n]

    def tape_setup(self) -> list:
        """One typed stack per recorded value (``stack()`` when the type is unknown)."""
        out = []
        for n in sorted(self.record):
            suffix = tape_suffix(self.typemap[n]) if n in self.typemap else None
            ctor = f"stack_{suffix}" if suffix else "stack"
            self.names.namespace.setdefault(ctor, getattr(tape_rt, ctor))
            out.append(E.assign(self.tape(n), E.call(E.name(ctor), [])))
        return out

    # --------------------------------------------------------------- forward sweep
    def _history_suffix(self, n):
        """The history constructor suffix for ``n`` (typed scalars only), else None."""
        suffix = tape_suffix(self.typemap[n]) if n in self.typemap else None
        return suffix if suffix in ("f64", "f32", "i64", "bool") else None

    def iteration(self, loop: ir.For) -> ast.expr:
        """The 0-based iteration number of a range loop, from its index."""
        index = E.name(self.names.var(loop.index))
        start = E.operand(loop.start, self.names)
        zero_start = isinstance(loop.start, ir.Const) and loop.start.value == 0
        offset = index if zero_start else E.sub(index, start)
        if isinstance(loop.step, ir.Const) and loop.step.value == 1:
            return offset
        return E.binop(ast.FloorDiv, offset, E.operand(loop.step, self.names))

    def range_args(self, loop: ir.For) -> list:
        """``range`` arguments as a person writes them (``range(n)``, ``range(1, n)``...)."""
        args = [E.operand(o, self.names) for o in (loop.start, loop.stop, loop.step)]
        if isinstance(loop.step, ir.Const) and loop.step.value == 1:
            zero = isinstance(loop.start, ir.Const) and loop.start.value == 0
            return args[1:2] if zero else args[:2]
        return args

    def layout(self, loop, block: Block) -> "Layout | None":
        """Where values recorded in ``loop``'s body go when its trip count is known early.

        A range loop outside other loops, and a range loop directly in the body of such a
        loop whose bounds do not change from one outer iteration to the next, get one
        preallocated history per recorded value, indexed by the (combined) iteration
        number.  Everything else records on stacks.
        """
        if not isinstance(loop, ir.For):
            return None
        if not block.in_loop:
            size = E.call("len", [E.call("range", self.range_args(loop))])
            return Layout(loop, lambda: self.iteration(loop), lambda: size, [])
        outer = block.history
        if outer is None:
            return None
        hoisted = [self._hoist(op, outer.root) for op in (loop.start, loop.stop, loop.step)]
        if any(h is None for h in hoisted):
            return None
        if isinstance(loop.step, ir.Const) and loop.step.value == 1:
            zero = isinstance(loop.start, ir.Const) and loop.start.value == 0
            hoisted = hoisted[1:2] if zero else hoisted[:2]
        trips = self.names.fresh(f"trips_{self.names.var(loop.index)}")
        outer.root_setup.append(E.assign(trips, E.call("len", [E.call("range", hoisted)])))
        return Layout(outer.root,
                      lambda: E.add(E.mul(outer.index(), E.name(trips)), self.iteration(loop)),
                      lambda: E.mul(outer.size(), E.name(trips)), outer.root_setup)

    def _hoist(self, op, root: ir.For):
        """``op`` as an expression valid before ``root`` starts, or None if it varies."""
        if isinstance(op, ir.Const):
            return E.operand(op, self.names)
        if not isinstance(op, ir.Var):
            return None
        inside = self._loop_names(root)
        if op.name not in inside:
            return E.name(self.names.var(op.name))
        stmt = self.stmt_of.get(op.name)
        if not (isinstance(stmt, ir.Call) and stmt.fn in CHEAP_RECOMPUTE and not stmt.kwargs
                and any(stmt is st for st in root.body)):
            return None
        args = [self._hoist(a, root) for a in stmt.args]
        if any(a is None for a in args):
            return None
        mapping = {a.name: h for a, h in zip(stmt.args, args) if isinstance(a, ir.Var)}
        return _Substitute(mapping, lambda node: node).visit(E.primal_call(stmt, self.names))

    def _loop_names(self, loop) -> set:
        key = id(loop)
        if key not in self._inside:
            self._inside[key] = self._inner_defs(loop) | {loop.index}
        return self._inside[key]

    def history_setup(self, loop: ir.For) -> list:
        """Allocate, before ``loop``, the histories of values recorded in it (or loops in it)."""
        out = []
        layouts = [lay for lay in self.history.values() if lay.root is loop]
        if layouts:
            out += layouts[0].root_setup
        for n in sorted(v for v, lay in self.history.items() if lay.root is loop):
            ctor = f"hist_{self._history_suffix(n)}"
            self.names.namespace.setdefault(ctor, getattr(tape_rt, ctor))
            out.append(E.assign(self.tape(n), E.call(E.name(ctor), [self.history[n].size()])))
        return out

    def push(self, n) -> list:
        if n in self.history:
            target = E.subscript(E.name(self.tape(n)), self.history[n].index(), store=True)
            return [E.assign(target, E.name(n))]
        if n in self.record:
            value = E.name(n)
            if self.fn.kinds.get(n) == "buffer" or (n in self.mutable or n in self.fn.view_group) \
                    and self.mutated_later(n):
                value = E.call("copy_value", [value])
            elif getattr(self.typemap.get(n), "layout", "C") != "C":
                value = E.call("np.ascontiguousarray", [value])   # typed stacks hold C arrays
            return [E.expr_stmt(E.call(E.attr(E.name(self.tape(n)), "append"), [value]))]
        if n in self.snapshot:
            return [E.assign(self.tape(n), E.call("copy_value", [E.name(n)]))]
        return []

    def fwd_simple(self, s) -> ast.stmt:
        if isinstance(s, ir.Call) and s.fn in (list_append, list_pop, list_version):
            return self.fwd_list(s)
        if isinstance(s, ir.Call) and s.fn is tape_rt.add_at:      # in place, then renamed
            array = E.name(self.names.var(s.args[0].name))
            return _Seq([E.expr_stmt(E.primal_call(s, self.names)),
                         E.assign(self.names.var(s.target), array)])
        if isinstance(s, ir.Call) and is_effect(s.fn):            # print(...): no result
            return E.expr_stmt(E.primal_call(s, self.names))
        if isinstance(s, ir.Call):
            return E.assign(self.names.var(s.target), E.primal_call(s, self.names))
        if isinstance(s, ir.GetItem):
            return E.assign(self.names.var(s.target),
                            E.subscript(E.operand(s.array, self.names), E.operand(s.index, self.names)))
        raise TypeError(s)

    def fwd_list(self, s: ir.Call):
        """List operations as Python spells them: ``items.append(v)``, ``v = items.pop()``."""
        items = E.name(self.names.var(s.args[0].name))
        target = self.names.var(s.target)
        if s.fn is list_pop:
            return E.assign(target, E.call(E.attr(items, "pop"), []))
        if s.fn is list_version:
            return E.assign(target, items)
        value = E.operand(s.args[1], self.names)
        return _Seq([E.expr_stmt(E.call(E.attr(items, "append"), [value])), E.assign(target, items)])

    def fwd_block(self, body) -> list:
        out = []
        for s in body:
            out += self.fwd_stmt(s)
        return out

    def fwd_stmt(self, s) -> list:
        names = self.names
        out: list = []
        if isinstance(s, (ir.Call, ir.GetItem)):
            out.append(self.fwd_simple(s))
        elif isinstance(s, ir.Store):
            arr = E.name(names.var(s.array.name))
            out.append(E.assign(E.subscript(arr, E.operand(s.index, names), store=True),
                                E.operand(s.value, names)))
            out.append(E.assign(names.var(s.target), arr))
        elif isinstance(s, ir.Copy):
            out.append(E.assign(names.var(s.target), E.operand(s.value, names)))
        elif isinstance(s, ir.If):
            then = self.fwd_block(s.then_body) + self._bind_outs(s.outs, s.then_yields)
            orelse = self.fwd_block(s.else_body) + self._bind_outs(s.outs, s.else_yields)
            out.append(E.if_(E.operand(s.cond, names), then, orelse))
        elif isinstance(s, ir.For):
            out += self.history_setup(s)
            out += self._bind_outs(s.carried, self._typed_inits(s))
            body = []
            for c in s.carried:
                body += self.push(c)
            body += self.fwd_block(s.body)
            body += self._bind_outs(s.carried, s.yields)
            out.append(E.for_range(names.var(s.index), self.range_args(s), body))
            out += self._bind_outs(s.outs, [ir.Var(c) for c in s.carried])
        elif isinstance(s, ir.While):
            trip = self.trip_name(s)
            out += self._bind_outs(s.carried, self._typed_inits(s))
            out.append(E.assign(trip, E.const(0)))
            body = []
            for c in s.carried:
                body += self.push(c)
            cond_code = self.fwd_block(s.cond_body)
            body += self.fwd_block(s.body)
            body += self._bind_outs(s.carried, s.yields)
            body.append(E.aug_add(E.name(trip), E.const(1)))
            cond = E.operand(s.cond, names)
            if cond_code:
                loop = E.while_(E.const(True), cond_code + [E.if_(E.not_(cond), [E.break_()])] + body)
            else:
                loop = E.while_(cond, body)
            out.append(loop)
            out += self._bind_outs(s.outs, [ir.Var(c) for c in s.carried])
            out += self.push(trip)
        for n in ir.defined_names(s):
            out += self.push(n)
        return out

    def _typed_inits(self, loop) -> list:
        """Initial values, with names unbound before the loop given a value of their type."""
        inits = []
        for c, init in zip(loop.carried, loop.inits):
            if isinstance(init, ir.Const) and init.value is None and c in self.typemap:
                dummy = dummy_value(self.typemap[c])
                if dummy is not None:
                    init = _Expr(dummy)
            inits.append(init)
        return inits

    def _bind_outs(self, targets, values) -> list:
        pairs = [(t, v) for t, v in zip(targets, values) if not (isinstance(v, ir.Var) and v.name == t)]
        if not pairs:
            return []
        return [E.assign_many([self.names.var(t) for t, _ in pairs],
                              [v.node if isinstance(v, _Expr) else E.operand(v, self.names)
                               for _, v in pairs])]


def _writes_in_place(s) -> bool:
    """A store, or generated code's ``add_at``: the statement overwrites an array."""
    return isinstance(s, ir.Store) or (isinstance(s, ir.Call) and s.fn is tape_rt.add_at)


@dataclass(frozen=True)
class _Expr:
    """A ready-made expression standing where an IR operand is expected."""

    node: ast.expr


class _Unbroadcast(ast.NodeTransformer):
    """``unbroadcast(g, x)`` (and forward mode's ``broadcast_like(t, ans)``) is just its
    first argument when the result and the second argument are scalars."""

    HELPERS = ("unbroadcast", "broadcast_like")

    def __init__(self, is_scalar):
        self.is_scalar = is_scalar

    def visit_Call(self, node):
        self.generic_visit(node)
        if (isinstance(node.func, ast.Name) and node.func.id in self.HELPERS
                and len(node.args) == 2 and self.is_scalar(node.args[1])):
            return node.args[0]
        return node


class _Seq(list):
    """A statement list standing where one statement is expected (flattened on output)."""


def _flatten(stmts):
    out = []
    for s in stmts:
        if isinstance(s, _Seq):
            out.extend(_flatten(s))
        else:
            for field_name in ("body", "orelse"):
                if hasattr(s, field_name) and isinstance(getattr(s, field_name), list):
                    setattr(s, field_name, _flatten(getattr(s, field_name)))
            out.append(s)
    return out


# helpers that read only the shape of these argument positions; shapes of a value do not
# change between loop iterations, so such reads need nothing restored
SHAPE_ONLY = {"zeros_like": (0,), "unbroadcast": (1,), "unreduce": (1,), "reshape_as": (1,),
              "reduced_count": (0,)}


class _Reads(ast.NodeVisitor):
    """Names read by generated code; reads that need only a shape are kept apart."""

    def __init__(self):
        self.names = set()
        self.shapes = set()

    def visit_Call(self, node):
        skip = SHAPE_ONLY.get(node.func.id, ()) if isinstance(node.func, ast.Name) else ()
        self.visit(node.func)
        for i, a in enumerate(node.args):
            if i not in skip:
                self.visit(a)
            elif isinstance(a, ast.Name):
                self.shapes.add(a.id)
            else:
                self.visit(a)
        for kw in node.keywords:
            self.visit(kw.value)

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load):
            self.names.add(node.id)


def _read_names(stmts) -> tuple[set, set]:
    """(names read for their value, names read only for their shape)."""
    reader = _Reads()
    for s in _flatten(list(stmts)):
        reader.visit(s)
    return reader.names, reader.shapes - reader.names


def build_forward(fn: ir.Function, fn_name: str):
    """The primal alone, as the forward sweep spells it (for type inference)."""
    rev = Reverse(fn, set(), [])
    body = rev.fwd_block(fn.body) + [E.return_(E.const(0))]
    return E.function(fn_name, list(fn.params), _flatten(body)), rev.names.namespace


COMPLEX_KINDS = ("complex", "complexarray")
_REAL_OF_COMPLEX = (np.absolute, abs, operator.abs, np.real, np.imag)   # complex in, real out
# non-differentiable calls whose result is complex for a complex argument
_KEEPS_COMPLEX = (np.zeros_like, np.ones_like, np.empty_like, np.round, np.around, np.rint,
                  np.floor_divide)


def _is_complex_const(op) -> bool:
    if isinstance(op, ir.Const):
        v = op.value
        return isinstance(v, (complex, np.complexfloating)) or (
            isinstance(v, np.ndarray) and np.iscomplexobj(v))
    if isinstance(op, (ir.Seq, ir.Index)):
        return any(_is_complex_const(p) for p in (op.items if isinstance(op, ir.Seq) else op.parts))
    return False


def refuse_complex(fn: ir.Function, active: set) -> None:
    """Refuse, at the user's line, a complex value meeting a differentiated one.

    Why: the rules are written for real numbers (``np.abs``'s is ``g * sign(x)``); with a
    complex intermediate they would return a wrong gradient without any error.  Complex
    values come from complex literals and complex arguments, and spread through every
    operation except ``abs`` (whose result is real).
    """
    from srcgrad.transforms.activity import INACTIVE_KINDS, _deps
    complex_names = {n for n, k in fn.kinds.items() if k in COMPLEX_KINDS}
    stmts = list(ir.walk(fn.body))
    changed = True
    while changed:
        changed = False
        for stmt in stmts:
            operands = ir.used_operands(stmt)
            if isinstance(stmt, ir.Call):     # every operand, shape-only ones too (full_like(C, x))
                prim = registry.lookup(stmt.fn)
                if stmt.fn in _REAL_OF_COMPLEX or fn.kinds.get(stmt.target) in INACTIVE_KINDS or (
                        prim is not None and prim.nondiff and stmt.fn not in _KEEPS_COMPLEX):
                    continue
                pairs = [(stmt.target, [n for op in operands for n in ir.operand_vars(op)])]
            else:
                pairs = _deps(stmt)
            for target, srcs in pairs:
                if target not in complex_names and (set(srcs) & complex_names or any(
                        _is_complex_const(op) for op in operands)):
                    complex_names.add(target)
                    changed = True
    for stmt in stmts:
        if not isinstance(stmt, (ir.Call, ir.GetItem, ir.Store, ir.Copy)):
            continue
        operands = ir.used_operands(stmt)
        reads = {n for op in operands for n in ir.operand_vars(op)}
        if not (reads & active or stmt.target in active):
            continue
        if reads & complex_names or any(_is_complex_const(op) for op in operands):
            raise NonDifferentiableError(
                "a complex number meets a differentiated value here; srcgrad differentiates "
                "real arithmetic only (its rules would give a wrong gradient for complex "
                "intermediates). Compute with real and imaginary parts as separate real "
                "arrays instead", stmt.loc, "complex")


def build_vjp(fn: ir.Function, active: set, wrt: list[str], fn_name: str, typemap=None):
    """The adjoint function's syntax tree and the namespace it runs in."""
    refuse_complex(fn, active)
    rev = Reverse(fn, active, wrt, typemap)
    tree = rev.build(fn_name)
    tree.body = _flatten(tree.body)
    return tree, rev.names.namespace, rev.locations()
