"""Lower: gast to the SSA IR, one primitive per statement, control flow kept structured.

Each user variable maps to its current SSA value in an environment; assignments make
fresh versions.  Branches merge the variables they change; loops carry the variables
their body assigns.  Python operators, methods (``x.sum()``) and attributes (``x.T``)
become calls of the NumPy/operator functions that define them, so the rule registry is
the only place derivatives live.  Anything outside the supported subset is refused here
with its location.

The ``Lowerer`` is one recursive-descent lowerer: this module holds its state (the
environment, the block being emitted, SSA names and the facts recorded per value), the
dispatch on statements and expressions and the entry point; its methods are grouped by
role in ``lower_stmts`` (assignments, stores, nested functions), ``lower_alias`` (buffers,
views, aliasing), ``lower_branches``, ``lower_loops``, ``lower_exprs`` and ``lower_calls``.
Containers known at transform time and lists built at run time are helper objects it
owns and calls through their public methods: ``self.containers`` (``containers.Containers``,
with ``self.containers.iteration``, ``containers_iter.Iteration``) and ``self.lists``
(``lists.RuntimeLists``).  The tables it reads are in ``lower_tables``.
"""

from __future__ import annotations

import gast
import numpy as np

from srcgrad import ir
from srcgrad.errors import AliasingError, Loc, UnsupportedSyntaxError
from srcgrad.transforms.canonicalize import canonicalize
from srcgrad.transforms.containers import Containers
from srcgrad.transforms.containers_iter import Iteration
from srcgrad.transforms.lists import RuntimeLists
from srcgrad.transforms.lower_alias import AliasTracking
from srcgrad.transforms.lower_branches import Branches
from srcgrad.transforms.lower_calls import Calls
from srcgrad.transforms.lower_exprs import Expressions
from srcgrad.transforms.lower_inline import Inlining
from srcgrad.transforms.lower_loops import Loops
from srcgrad.transforms.lower_stmts import Statements
# the tables stay importable from here (tools/gen_rule_table.py reads BINOPS, METHODS...)
from srcgrad.transforms.lower_tables import (ATTRIBUTES, BINOPS, CMPOPS, GENERATED_GLOBALS,
                                             METHODS, UNARY, UNSUPPORTED_EXPRESSIONS,
                                             UNSUPPORTED_STATEMENTS, spell)
from srcgrad.transforms.lower_values import LocalFunction, NamespaceValue, Pullback, Restructure
from srcgrad.transforms.prune import prune


class Lowerer(Statements, Inlining, AliasTracking, Branches, Loops, Expressions, Calls):
    """Lowers one parsed function; ``lower_function`` returns its ``ir.Function``."""

    def __init__(self, parsed, arg_kinds: dict, trees=None, has_aux=False):
        self.parsed = parsed
        self.arg_kinds = arg_kinds
        # emission: the user's names -> values, the block being built
        self.env: dict = {}
        self.out: list = []
        self.result_loc = None
        self.inlining: set = set()               # functions being inlined (no recursion)
        self.callees: dict = {}                  # code of an inlined function -> its parse
        self.frame = 0                           # how many of the user's calls are inlined
        self.frames: dict = {}                   # frame -> (env, parse) while a deeper one runs
        self.writable: set = set()               # parameters it may write in place
        self.call_sites: list = []               # (callee, call location) being inlined
        self.no_rule: dict = {}                  # call without a rule -> its refusal
        # SSA names
        self.taken: set[str] = set(GENERATED_GLOBALS)
        self.counters: dict[str, int] = {}
        self.user_names: dict[str, str] = {}
        # facts per value, handed on to the IR
        self.kinds: dict[str, str] = {}
        self.ndims: dict[str, int] = {}
        self.arity: dict[str, int] = {}
        self.shape_len: dict[str, int] = {}      # x.shape value -> its length (x's rank)
        # aliasing (lower_alias): buffer groups and views (handed on), ownership, staleness
        self.groups: dict[str, int] = {}
        self.views: dict[str, int] = {}
        self.integer_groups: set[int] = set()    # groups of integer or bool arrays (inactive)
        self.integer_arrays: set[str] = set()    # other values known to be integer arrays
        self._group_ids = 0
        self.poisoned: dict[str, Loc] = {}      # uncertain value (an alias or view of an array
                                                 # written in place, on some path) -> the write
        self.owned: dict[str, list] = {}         # array made here -> values it may be (merges)
        self.sources: dict[str, list] = {}       # merged or carried value -> what it may be
        self.view_base: dict[str, str] = {}      # view of a value not (yet) a buffer -> it
        # loops (lower_loops): values None before a loop that may turn out to be tuples
        self.placeholders: dict[str, str] = {}   # value None before a loop -> its carried root
        self.outer_placeholder: dict[str, str] = {}  # carried -> enclosing loop's placeholder
        # helpers with their own state
        self.containers = Containers(self, Iteration(self), trees, has_aux)
        self.lists = RuntimeLists(self)

    def parts(self) -> list:
        """The objects holding lowering state (snapshot and restored when a loop is
        lowered again)."""
        return [self, self.containers, self.containers.iteration, self.lists]

    # ------------------------------------------------------------------ helpers
    def loc(self, node) -> Loc:
        return self.parsed.loc(node)

    def fresh(self, base: str, user: str | None = None) -> str:
        """A deterministic new SSA name: ``x``, then ``x_1``, ``x_2``..."""
        base = base.lstrip("_") or "tmp"
        count = self.counters.get(base, 0)
        while True:
            name = base if count == 0 else f"{base}_{count}"
            count += 1
            if name not in self.taken:
                break
        self.counters[base] = count
        self.taken.add(name)
        self.user_names[name] = user or base
        return name

    def emit(self, stmt):
        self.out.append(stmt)
        return stmt

    def refuse(self, node, message, construct=None, cls=UnsupportedSyntaxError):
        raise cls(message, self.loc(node), construct)

    def kind(self, op) -> str | None:
        if isinstance(op, ir.Const):
            v = op.value
            if isinstance(v, bool):
                return "bool"
            if isinstance(v, (int, np.integer)):
                return "int"
            if isinstance(v, (float, np.floating)):
                return "float"
            if isinstance(v, np.ndarray):
                return "array"
            return "other"
        if isinstance(op, ir.Var):
            return self.kinds.get(op.name)
        if isinstance(op, ir.Seq):
            return "tuple"
        return None

    def ndim_of(self, op):
        """The rank of an operand when known (0 for scalars), else None."""
        if self.kind(op) in ("float", "int", "bool"):
            return 0
        if isinstance(op, ir.Var):
            return self.ndims.get(op.name)
        return None

    def is_array(self, op) -> bool:
        """Whether ``op`` is known to hold an array (not a scalar) when the derivative is made."""
        if not isinstance(op, ir.Var):
            return False
        return self.kinds.get(op.name) in ("array", "buffer") or bool(self.ndims.get(op.name))

    def is_list(self, value) -> bool:
        """Whether ``value`` is a run-time list (a list-kind SSA value)."""
        return isinstance(value, ir.Var) and self.kinds.get(value.name) == "list"

    # ------------------------------------------------------------------ entry
    def lower_function(self) -> ir.Function:
        code = getattr(self.parsed.fn, "__code__", None)
        if code is not None:
            self.inlining.add(code)          # a call of itself is recursion, not inlined
        node = self.canonical if self.canonical is not None else canonicalize(self.parsed)
        self.node = node
        params = self.params = []
        arg_nodes = node.args
        if arg_nodes.vararg or arg_nodes.kwarg:
            self.refuse(node, "*args and **kwargs parameters are not supported: name each "
                              "parameter, or pass several values as one tuple, list or dict",
                        "parameters")
        bound = getattr(self.parsed, "bound", {})
        for a in arg_nodes.posonlyargs + arg_nodes.args + arg_nodes.kwonlyargs:
            if a.id in bound:
                continue             # self or a partial's argument: resolved like a closure value
            if self.containers.is_param(a.id):
                self.containers.bind_param(a.id)
                continue
            name = self.fresh(a.id, a.id)
            params.append(name)
            self.env[a.id] = ir.Var(name)
            kind, ndim = self.arg_kinds.get(a.id, (None, None))
            if kind:
                self.kinds[name] = kind
            if kind in ("intarray", "otherarray") or a.id in self.writable:
                # an integer or boolean work array (a permutation, flags), or an array not
                # differentiated, is the function's to write in place: no derivative
                # flows back into it, and the caller sees the writes as with the primal
                self.owned[name] = []
            if ndim is not None:
                self.ndims[name] = ndim
        if isinstance(node, gast.Lambda):
            result = self.containers.result(self.expr(node.body, "result"), node.body)
        else:
            self.block(node.body[:-1])
            ret = node.body[-1]
            result = self.expr(ret.value, "result") if ret.value is not None else ir.Const(None)
            result = self.containers.result(result, ret)
            self.result_loc = self.loc(ret)
        fn = ir.Function(getattr(self.parsed.fn, "__name__", "f"), params, self.out, result,
                         self.loc(node), self.kinds, self.groups, self.user_names)
        fn.integer_groups = set(self.integer_groups)
        fn.no_rule = dict(self.no_rule)
        return fn

    # ------------------------------------------------------------------ statements
    def block(self, body):
        for stmt in body:
            self.stmt(stmt)

    def stmt(self, node):
        method = getattr(self, "stmt_" + type(node).__name__, None)
        if method is None:
            construct, advice = UNSUPPORTED_STATEMENTS.get(
                type(node).__name__, (type(node).__name__, "rewrite it with assignments, "
                                                            "if, for and while"))
            self.refuse(node, f"'{construct}' is not supported in a differentiated function; "
                              f"{advice}", construct)
        method(node)

    def lookup(self, name, node):
        if name in self.env:
            value = self.env[name]
            if isinstance(value, ir.Var) and value.name in self.poisoned:
                where = self.poisoned[value.name]
                self.refuse(node, f"'{name}' may share memory with an array that was written "
                                  f"in place at line {where.line} (it is a view or an alias of "
                                  f"it), so its value here is uncertain; copy it (.copy()) "
                                  f"before the write, or read the written array itself",
                            "stale view", AliasingError)
            return value
        if self.parsed.has_name(name):
            return self.constant(self.parsed.resolve(name), node, name)
        self.refuse(node, f"name '{name}' is not defined", "name")

    def constant(self, value, node, name=None):
        if isinstance(value, (bool, int, float, complex, np.number, type(None))):
            return ir.Const(value)
        return NamespaceValue(value, name)

    def expr(self, node, hint):
        method = getattr(self, "expr_" + type(node).__name__, None)
        if method is None:
            construct, advice = UNSUPPORTED_EXPRESSIONS.get(
                type(node).__name__, (type(node).__name__, "compute it in separate assignments"))
            self.refuse(node, f"'{construct}' is not supported in a differentiated function; "
                              f"{advice}", construct)
        return method(node, hint)

    def as_operand(self, value, node):
        if isinstance(value, LocalFunction):
            self.refuse(node, "a nested function can only be called here, not used as a value",
                        "function value")
        if isinstance(value, Pullback):
            self.refuse(node, "a pullback from srcgrad.vjp can only be called here, in the "
                              "function that made it", "pullback value")
        if isinstance(value, tuple):
            return ir.Seq(tuple(self.as_operand(v, node) for v in value))
        if isinstance(value, list):
            return ir.Seq(tuple(self.as_operand(v, node) for v in value), "list")
        if isinstance(value, dict):
            self.refuse(node, "a dict cannot be used as a value here: index it (d[\"key\"]), "
                              "iterate over it or return it", "dict value")
        if isinstance(value, NamespaceValue):
            if isinstance(value.value, np.ndarray) or isinstance(value.value, (tuple, list)):
                return ir.Const(value.value)
            if is_dtype(value.value):          # dtype=int, np.int64: by name, as Numba takes it
                return ir.Const(np.dtype(value.value).name)
            self.refuse(node, f"'{value.name}' ({type(value.value).__name__}) cannot be used as a value here",
                        "value")
        return value



def is_dtype(value) -> bool:
    """Whether ``value`` names a NumPy dtype (``int``, ``np.float32``, ``np.dtype('i8')``)."""
    return isinstance(value, np.dtype) or (
        isinstance(value, type) and issubclass(value, (np.generic, int, float, complex)))


def lower(parsed, arg_kinds=None, trees=None, has_aux=False, canonical=None,
          then_prune=True, writable=()) -> ir.Function:
    """Lower a parsed function to IR; ``arg_kinds`` maps parameter -> (kind, ndim).

    ``trees`` maps a container parameter to ``(treedef, [(kind, ndim) per leaf])``: it
    becomes one IR parameter per leaf.  ``has_aux``: the function returns ``(value, aux)``
    and aux is not differentiated.  ``fn.result_tree`` is the structure of the result.
    The pipeline passes the ``canonical`` tree it made and prunes afterwards itself
    (``then_prune=False``); called alone, lowering does both.  ``writable``: parameters
    the function may write in place besides integer arrays (not differentiated).
    """
    lowerer = Lowerer(parsed, arg_kinds or {}, trees, has_aux)
    lowerer.writable = set(writable)
    lowerer.canonical = canonical
    try:
        fn = lowerer.lower_function()
    except Restructure as stray:            # a tuple whose loop could not be found
        raise UnsupportedSyntaxError(
            f"'{lowerer.user_names.get(stray.carried, stray.carried)}' becomes a tuple inside "
            f"a loop in a way srcgrad cannot follow; give it its tuple value before the loop",
            lowerer.loc(parsed.node), "tuple") from None
    fn.result_tree = lowerer.containers.result_tree
    fn.ndims = lowerer.ndims
    fn.arity = lowerer.arity
    fn.view_group = lowerer.views
    fn.result_loc = lowerer.result_loc or fn.loc
    ir.check(fn)
    if then_prune:
        fn = prune(fn)
        ir.check(fn)
    return fn


__all__ = ["lower", "spell", "Lowerer", "GENERATED_GLOBALS", "BINOPS",
           "CMPOPS", "UNARY", "METHODS", "ATTRIBUTES", "UNSUPPORTED_STATEMENTS",
           "UNSUPPORTED_EXPRESSIONS"]
