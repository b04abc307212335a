"""Lowering of calls: resolving the callee (a registered primitive, a NumPy method, the
user's own function, a ``custom.Function``), checking its arguments, and recording what
is known about the result: its kind and rank, whether it is a fresh array the function
owns, a buffer it may write in place, a run-time list, or a view of an operand.

``Calls`` is the part of ``lower.Lowerer`` that lowers them.
"""

from __future__ import annotations

import ast
import operator
import sys

import gast
import numpy as np

from srcgrad import calls, custom, ir
from srcgrad.errors import UnknownCalleeError, UnsupportedDerivativeError
from srcgrad.rules import casts, registry
from srcgrad.runtime import broadcast as broadcast_rt
from srcgrad.transforms.containers import fold_constants, is_container
from srcgrad.rules.registry import facts
from srcgrad.transforms import types
from srcgrad.transforms.lower_tables import METHODS, spell
from srcgrad.transforms.lower_values import (MISSING, LocalFunction, NamespaceValue, Pullback,
                                             base_name, short_name)


class Calls:
    """Calls of primitives, methods and the user's functions (a part of ``lower.Lowerer``)."""

    def callee_of(self, func):
        """The object a call's ``func`` expression denotes, if it is not a method call on a value."""
        if isinstance(func, gast.Name):
            if func.id in self.env:          # a function passed in as an argument
                value = self.env[func.id]
                return value.value if isinstance(value, NamespaceValue) else None
            if self.parsed.has_name(func.id):
                return self.parsed.resolve(func.id)
            return None
        if isinstance(func, gast.Attribute):
            owner = self.callee_of(func.value)
            if owner is not None:
                return self.parsed.attribute(owner, func.attr, MISSING)
        return None

    def expr_Call(self, node, hint):
        func = node.func
        if isinstance(func, gast.Name) and isinstance(self.env.get(func.id), LocalFunction):
            return self.inline_local(self.env[func.id], node, hint)
        if isinstance(func, gast.Name) and isinstance(self.env.get(func.id), Pullback):
            return self.inline_pullback(self.env[func.id], node, hint)
        if isinstance(func, gast.Call):             # srcgrad.grad(g)(x): made, then called
            made = self.expr(func, None)
            if isinstance(made, NamespaceValue) and calls.is_derivative(made.value):
                return self.inline_derivative(made.value, node, hint)
        target = self.inlined_callee(func)
        if target is not None:
            return self.inline_user(target, node, hint)
        fn = self.callee_of(func)
        if fn is not None and fn is not MISSING and calls.is_derivative(fn):
            return self.inline_derivative(fn, node, hint)
        if any(fn is f for f in calls.TRANSFORM_TIME):
            return self.at_transform_time(fn, node, hint)
        if any(fn is f for f in calls.RESTATED):
            return self.inline_restated(fn, node, hint)
        if any(fn is f for f in calls.PULLBACKS):
            return self.inline_vjp(fn, node, hint)
        if isinstance(func, gast.Attribute) and (fn is None or isinstance(
                getattr(fn, "__self__", None), np.ndarray)):
            return self.method_call(node, hint)    # also self.w.sum() on a constant array
        if self.containers.handles(fn):
            return self.containers.call(fn, node, hint)
        if fn is None or fn is MISSING:
            spelled = ast.unparse(gast.gast_to_ast(func))
            self.refuse(node, f"cannot resolve '{spelled}': it is not a known function or a "
                              f"method of an array; register a rule with srcgrad.defvjp",
                        "call", UnknownCalleeError)
        args = []
        prim = registry.lookup(fn)
        shape_only = {i for i, r in prim.vjps.items() if r is registry.ZERO} if prim else set()
        for i, a in enumerate(node.args):
            if isinstance(a, gast.Starred):
                self.refuse(a, "*args in calls are not supported", "call")
            if i in shape_only and isinstance(a, gast.Name):
                value = self.env.get(a.id) or self.expr(a, None)        # only its shape is read
                args.append(self.as_operand(value, a) if isinstance(
                    value, (tuple, list, NamespaceValue)) else value)
                continue
            args.append(self.array_of_values(prim, i, self.containers.argument(
                fn, self.expr(a, None), a), a))
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                self.refuse(node, "**kwargs in calls are not supported", "call")
            kwargs[kw.arg] = self.containers.argument(fn, self.expr(kw.value, None), kw.value)
        return self.call(fn, args, kwargs, node, hint)

    def array_of_values(self, prim, i, value, node):
        """A list or tuple of numbers written where a primitive differentiates an array
        (``np.max([a, b])``): made an array first, as NumPy does."""
        rule = prim.vjps.get(i) if prim is not None else None
        if not (isinstance(value, ir.Seq) and callable(rule) and i not in prim.seq_params and
                prim.fn not in (np.array, np.asarray) and
                any(isinstance(v, ir.Var) for v in value.items)):
            return value
        return self.call(np.array, [value], {}, node, None)

    def method_call(self, node, hint):
        func = node.func
        name = self.lists.method_target(node)
        if name is not None:
            return self.lists.call(name, node, hint)
        owner = self.expr(func.value, None)
        if self.is_list(owner):
            self.lists.refuse_change(ast.unparse(gast.gast_to_ast(func.value)), node, func.attr)
        if is_container(owner) and not isinstance(owner, ir.Seq):
            return self.containers.method(owner, node, hint)
        base = self.as_operand(owner, func.value)
        if func.attr == "astype":
            return self.astype_call(base, node, hint)
        fn = METHODS.get(func.attr)
        if fn is None:
            self.refuse(node, f"the method '.{func.attr}()' is not supported", "method call",
                        UnknownCalleeError)
        args = [base] + [self.as_operand(self.expr(a, None), a) for a in node.args]
        kwargs = {kw.arg: self.as_operand(self.expr(kw.value, None), kw.value) for kw in node.keywords}
        if fn is np.reshape and len(args) > 2:
            args = [base, ir.Seq(tuple(args[1:]))]
        if fn is np.transpose and len(args) > 2:
            args = [base, ir.Seq(tuple(args[1:]))]
        return self.call(fn, args, kwargs, node, hint)

    def astype_call(self, base, node, hint):
        """``x.astype(dtype)``: the cast function of that dtype (see rules/casts.py)."""
        if len(node.args) != 1 or node.keywords:
            self.refuse(node, "astype takes one argument here, the dtype (x.astype(float))",
                        "astype")
        dtype = self.expr(node.args[0], None)
        dtype = dtype.value if isinstance(dtype, (NamespaceValue, ir.Const)) else None
        cast = casts.cast_for(dtype) if dtype is not None else None
        if cast is None:
            self.refuse(node, "astype is supported to float64, int64, int32 and bool (spelled "
                              "float, int, bool, np.float64... or their names); for other "
                              "dtypes compute in float64", "astype", UnknownCalleeError)
        kind = self.kind(base)
        if hint is None and isinstance(base, ir.Var):
            hint = f"{base_name(base)}_{cast.__name__[3:]}"          # x_float64
        value = self.call(cast, [base], {}, node, hint)
        ndim = self.ndim_of(base)
        if ndim is not None and ndim > 0:
            self.ndims[value.name] = ndim
        integral = cast in casts.INT_CASTS.values()
        if kind in ("float", "int", "bool") or ndim == 0:
            self.kinds[value.name] = ("bool" if cast is casts.as_bool else "int") if integral \
                else "float"
        else:
            self.kinds[value.name] = "intarray" if integral else "array"
        return value

    def call(self, fn, args, kwargs, node, hint):
        """Emit ``target = fn(args)`` for a registered primitive and return its value."""
        read = self.lists.reader(fn, args, kwargs, node, hint)
        if read is not None:
            return read
        fn, args, kwargs = self.resolve_callee(fn, args, kwargs, node)
        folded = fold_constants(fn, args, kwargs)
        if folded is not None:
            return folded
        prim = registry.lookup(fn)
        if prim is None:
            if fn is float and len(args) == 1:
                return args[0]
            name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
            why = facts(fn).why_no_rule
            source = "is a library function" if calls.is_library(fn) else \
                "has no source srcgrad can read"
            refusal = UnknownCalleeError(
                f"'{_full_name(fn) if callable(fn) else name}' {source} and has no derivative "
                f"rule{f' ({why})' if why else ''}, so it cannot be differentiated through; "
                f"register a rule with srcgrad.defvjp({name}, ...), or keep differentiated "
                f"values out of its arguments", self.loc(node), "unknown function")
            if not callable(fn) or isinstance(fn, type):
                raise refusal
            return self.call_without_rule(fn, args, kwargs, hint, self.located(refusal))
        if isinstance(node, gast.Call):
            self.check_signature(prim, args, kwargs, node)
        refusal = self.form_refusal(prim, args, kwargs, node)
        if refusal is not None:          # it runs; refused if a derivative reaches it
            return self.call_without_rule(fn, args, kwargs, hint, refusal)
        # a list of pieces is spelled as a tuple, which Numba's np.stack/np.concatenate take
        args = [ir.Seq(a.items) if i in prim.seq_params and isinstance(a, ir.Seq) else a
                for i, a in enumerate(args)]
        spelled = spell(fn)
        if "." not in spelled:
            self.taken.add(spelled)     # generated code calls it by this bare name
        target = self.fresh(hint or short_name(fn), hint)
        self.emit(ir.Call(target, fn, spelled, list(args), dict(kwargs), self.loc(node)))
        self.kinds[target] = self.result_kind(fn, args)
        arity = fn.arity if isinstance(fn, calls.CalleePrimitive) else \
            self.static_arity(prim, args, kwargs, node)
        if arity is not None:
            self.kinds[target] = "tuple"
            self.arity[target] = arity
            # its items, known to be a tuple now: they flow through branches and loops
            return tuple(self.getitem(ir.Var(target), ir.Index((ir.Const(i),)), node, None)
                         for i in range(arity))
        self.record_rank(target, fn, args, kwargs)
        self.record_memory(target, fn, args, kwargs)
        return ir.Var(target)

    def call_without_rule(self, fn, args, kwargs, hint, refusal):
        """A library function with no rule: it runs, and its result carries no derivative;
        ``refusal`` is raised by the activity pass if a derivative would reach it."""
        spelled = spell(fn)
        if "." not in spelled:
            self.taken.add(spelled)
        target = self.fresh(hint or short_name(fn), hint)
        self.emit(ir.Call(target, fn, spelled, list(args), dict(kwargs), refusal.loc))
        self.no_rule[target] = refusal
        t = types.evaluate(fn, args, kwargs, self.value_type)
        if t is not None and t.kind == "scalar":
            self.kinds[target] = {"int64": "int", "bool": "bool"}.get(t.dtype, "float")
        elif t is not None and t.kind == "array":
            self.kinds[target], self.ndims[target] = "array", t.ndim
        return ir.Var(target)

    def resolve_callee(self, fn, args, kwargs, node):
        """The primitive a call reaches and its arguments: a user's function binds its
        arguments to its parameters, ``Function.apply`` is its class's primitive."""
        if registry.lookup(fn) is None and (getattr(fn, "__module__", None) or "").startswith(
                "srcgrad.runtime"):
            raise UnknownCalleeError(
                f"derivatives of derivatives through '{fn.__name__}' (a helper of generated "
                f"code) are not supported yet: it has no derivative rule", self.loc(node),
                "higher-order derivative")
        if isinstance(getattr(fn, "__self__", None), custom.FunctionPrimitive):
            raise UnknownCalleeError(
                f"derivatives of derivatives through the srcgrad.Function "
                f"'{fn.__self__.cls.__name__}' are not supported: its backward is not "
                f"differentiated again. Write the operation as plain NumPy code, which srcgrad "
                f"differentiates to any order", self.loc(node), "higher-order derivative")
        if calls.is_user_function(fn):
            bound, problem = calls.bind_arguments(fn, args, kwargs, ir.Const)
            if problem:
                self.refuse(node, problem, "call")
            args, kwargs = bound, {}
            fn = calls.callee_primitive(fn)
        if fn is np.linalg.svd:
            fn, args, kwargs = self.svd_form(args, kwargs, node)
        if custom.is_function_apply(fn):
            if kwargs:
                self.refuse(node, f"{fn.__self__.__name__}.apply takes positional arguments only",
                            "Function.apply")
            fn = custom.function_primitive(fn.__self__)
        return fn, args, kwargs

    def svd_form(self, args, kwargs, node):
        """``np.linalg.svd(a, compute_uv=False)`` returns the singular values alone, not the
        tuple svd's rules describe: it is ``np.linalg.svdvals(a)``."""
        fn = np.linalg.svd
        bound = dict(zip(("a", "full_matrices", "compute_uv", "hermitian"), args))
        bound.update(kwargs)
        flag = bound.get("compute_uv")
        if flag is None or (isinstance(flag, ir.Const) and flag.value):
            return fn, args, kwargs
        hermitian = bound.get("hermitian")
        if not isinstance(flag, ir.Const) or not (
                hermitian is None or isinstance(hermitian, ir.Const) and not hermitian.value):
            self.refuse(node, "np.linalg.svd takes a constant compute_uv (True or False) and "
                              "hermitian=False here; for singular values alone use "
                              "np.linalg.svdvals(a)", "np.linalg.svd")
        return np.linalg.svdvals, [bound["a"]], {}

    def record_rank(self, target, fn, args, kwargs):
        """The kind and rank of a call's result, when known from its operands' (a scalar
        is a float unless NumPy says it is an integer or a bool)."""
        t = types.evaluate(fn, args, kwargs, self.value_type)
        known = t is not None and t.kind in ("scalar", "array") and \
            self.kinds[target] not in ("int", "bool", "shape")
        if known and (t.kind == "scalar" or t.ndim == 0):
            self.kinds[target] = {"int64": "int", "bool": "bool"}.get(t.dtype, "float")
        elif known:
            self.ndims[target] = t.ndim
            self.kinds[target] = self.kinds[target] or "array"
            if types.is_integral(t.dtype):
                self.integer_arrays.add(target)
        if fn is np.shape and self.ndim_of(args[0]) is not None:
            self.shape_len[target] = self.ndim_of(args[0])

    def record_memory(self, target, fn, args, kwargs):
        """Whether a call's result is a fresh array, a new buffer or list, or a view."""
        known = facts(fn)
        if known.fresh and not known.allocator:       # allocators become buffers below
            self.owned[target] = []
        if known.result_kind == "list":
            self.lists.record_constructor(target, fn)
        elif known.allocator and not (fn is broadcast_rt.zeros_like and
                                      self.kind(args[0]) in ("float", "int", "bool")):
            self.groups[target] = self.new_group()
            if target in self.integer_arrays:
                self.integer_groups.add(self.groups[target])
            self.kinds[target] = "buffer"
            ndim = self.alloc_ndim(fn, args, kwargs)
            if ndim is not None:
                self.ndims[target] = ndim
        elif known.view and args and isinstance(args[0], ir.Var):
            if args[0].name in self.groups or args[0].name in self.views:
                self.views[target] = self.groups.get(args[0].name, self.views.get(args[0].name))
            else:
                self.view_base[target] = args[0].name

    def check_signature(self, prim, args, kwargs, node):
        sig = prim.signature
        if sig is None:
            return
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            self.refuse(node, f"unsupported arguments for {prim.name}: {exc}", "call")

    def static_arguments(self, prim, args, kwargs) -> dict | None:
        """The call's arguments by parameter name, defaults filled in: a constant as its
        value, a literal tuple or list as a tuple or list of its items' values, anything
        else as ``registry.NOT_CONSTANT``; None if they do not bind."""
        if prim.signature is None:
            return None
        try:
            bound = prim.signature.bind(*args, **kwargs)
        except TypeError:
            return None
        bound.apply_defaults()

        def value(op):
            if isinstance(op, ir.Const):
                return op.value
            if isinstance(op, ir.Seq):
                items = [value(item) for item in op.items]
                return items if op.kind == "list" else tuple(items)
            if isinstance(op, (ir.Var, ir.Slice, ir.Index)):
                return registry.NOT_CONSTANT
            return op                               # a default value
        return {name: value(op) for name, op in bound.arguments.items()}

    def form_refusal(self, prim, args, kwargs, node):
        """The error for a form of the call its primitive declares it cannot differentiate
        (``refuses``), or None."""
        if prim.refuses is None:
            return None
        static = self.static_arguments(prim, args, kwargs)
        why = prim.refuses(**static) if static is not None else None
        if not why:
            return None
        return self.located(UnsupportedDerivativeError(f"{prim.name}: {why}", self.loc(node), "call"))

    def static_arity(self, prim, args, kwargs, node) -> int | None:
        """How many values the call returns as a tuple (``arity``): a declared int, or the
        declared callable applied to the call's constant arguments, which raises
        ValueError (refused here with its message) when they do not fix the count."""
        arity = prim.arity
        if not callable(arity):
            return arity
        static = self.static_arguments(prim, args, kwargs)
        try:
            if static is None:
                raise ValueError("its arguments do not match its signature")
            return int(arity(**static))
        except ValueError as exc:
            self.refuse(node, f"{prim.name} returns a number of arrays that must be known when "
                              f"the function is transformed: {exc}", "call",
                        UnsupportedDerivativeError)

    def value_type(self, op):
        """What lowering knows of an operand as a value type (``types.evaluate`` reads it):
        scalars by kind, arrays by rank (float64 unless integer), shapes by length."""
        if not isinstance(op, ir.Var):
            return None
        kind = self.kinds.get(op.name)
        if kind in ("float", "int", "bool"):
            return {"float": types.F64, "int": types.I64, "bool": types.BOOL}[kind]
        ndim = self.ndims.get(op.name)
        if kind in ("array", "buffer", "intarray") and ndim is not None:
            return types.array("int64" if self.integral(op) else "float64", ndim)
        if kind == "shape" and op.name in self.shape_len:
            return types.ValueType("tuple", "int64", self.shape_len[op.name])
        return None

    def alloc_ndim(self, fn, args, kwargs):
        if not args:
            return None
        a = args[0]
        t = types.evaluate(fn, args, kwargs, self.value_type)
        if t is not None and t.kind == "array":
            return t.ndim
        if fn is np.array and isinstance(a, ir.Seq):   # np.array([a, b, c]): one rank more
            ranks = {self.ndim_of(item) for item in a.items}
            return 1 + ranks.pop() if len(ranks) == 1 and None not in ranks else None
        if isinstance(a, ir.Seq):
            return len(a.items)
        if isinstance(a, ir.Var) and a.name in self.shape_len:
            return self.shape_len[a.name]      # np.zeros(x.shape)
        if self.kind(a) == "int" or (isinstance(a, ir.Const) and isinstance(a.value, int)):
            return 1
        return None

    def result_kind(self, fn, args):
        kinds = [self.kind(a) for a in args]
        known = facts(fn)
        if known.result_kind in ("bool", "int"):
            return known.result_kind
        if fn is np.shape:
            return "shape"
        if known.int_preserving and kinds and all(k in ("int", "bool") for k in kinds):
            return "int"
        if fn is operator.and_ or fn is operator.or_:
            return "bool"
        scalar = kinds and all(k in ("int", "bool", "float") for k in kinds)
        module = getattr(fn, "__module__", "") or ""
        if module == "math" or (scalar and known.int_preserving):
            return "float"
        return None          # record_rank knows the rest from the operands' types


def _full_name(fn) -> str:
    """How the user knows ``fn``: ``scipy.special.erfcx``, ``np.sinc``, ``mylib.kernel``.
    A ufunc does not say where it lives, so NumPy's and SciPy's namespaces are asked."""
    name = getattr(fn, "__name__", None) or repr(fn)
    if isinstance(fn, np.ufunc):
        if getattr(np, name, None) is fn:
            return f"np.{name}"
        try:
            import scipy.special as special
        except ImportError:
            return name
        return f"scipy.special.{name}" if getattr(special, name, None) is fn else name
    module = getattr(fn, "__module__", None)
    if module in (None, "builtins") or module.startswith("numpy"):
        return spell(fn)
    public = ".".join(p for p in module.split(".") if not p.startswith("_"))
    if public != module and getattr(sys.modules.get(public), name, None) is fn:
        module = public                  # scipy.linalg.cho_factor, not its private module
    return f"{module}.{getattr(fn, '__qualname__', name)}"
