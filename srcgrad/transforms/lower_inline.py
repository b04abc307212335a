"""Calls of the user's own functions, lowered in place (inlined).

A call of a nested function or lambda, of a module-level function (from this module or
another one), or of a ``numba.njit`` dispatcher (its Python source) is lowered where it
stands, as Python would run it: the callee's parameters are bound to the call's operands,
its free names resolve in its own module, and its body becomes part of the caller's IR.
So every later pass sees one function: reverse and forward mode, derivatives of
derivatives and the Numba backend need nothing for calls, and Numba compiles one
function with no call overhead (it would inline small callees anyway).

Arrays a callee writes in place are the caller's arrays (an output argument): the writes
follow the aliasing rules of stores, and the caller's names see the new versions. A
recursive call cannot be inlined: without jit it becomes a primitive whose rule is the
callee's own adjoint (``calls.CalleePrimitive``); Numba cannot compile that.

``Inlining`` is the part of ``lower.Lowerer`` that lowers these calls.
"""

from __future__ import annotations

import inspect

import gast

from srcgrad import calls, ir
from srcgrad.callables import is_numba_dispatcher
from srcgrad.errors import SourceUnavailableError, SrcgradError
from srcgrad.rules import registry
from srcgrad.transforms.canonicalize import Canonicalizer
from srcgrad.transforms.lower_values import LocalFunction, NamespaceValue, Pullback
from srcgrad.transforms.parse import parse_function


def inlinable(fn):
    """``(function, bound values)`` whose source a call of ``fn`` is lowered from, or None
    (a primitive, a callable object, a helper of generated code).  A method bound to an
    instance binds its ``self`` like a closure value."""
    bound = {}
    if is_numba_dispatcher(fn):
        fn = fn.py_func
    if inspect.ismethod(fn) and not isinstance(fn.__self__, type) and registry.lookup(fn) is None:
        first = next(iter(inspect.signature(fn.__func__).parameters), None)
        fn, bound = fn.__func__, {first: fn.__self__}
    if not inspect.isfunction(fn) or registry.lookup(fn) is not None or \
            (fn.__module__ or "").startswith("srcgrad.") or calls.is_library(fn):
        return None
    return fn, bound


class Inlining:
    """Nested functions, lambdas and the user's own functions, lowered at each call."""

    def inline_user(self, callee, call, hint, lowered=None):
        """Lower a call of the user's function in place; returns its result.  ``lowered``:
        the call's arguments and keywords, if already lowered."""
        fn, bound = callee
        try:
            parsed = self.callee_parse(fn, bound)
        except SourceUnavailableError as exc:
            raise SourceUnavailableError(
                f"the call of '{fn.__qualname__}' cannot be differentiated: {exc.message}",
                self.loc(call), "call") from None
        args, kwargs = lowered or self.call_arguments(call)
        values, problem = calls.bind_arguments(fn, list(bound.values()) + args, kwargs, ir.Const)
        if problem:
            self.refuse(call, problem, "call")
        names = list(inspect.signature(fn).parameters)
        values, names = values[len(bound):], names[len(bound):]
        outer_env, outer_parsed = self.env, self.parsed
        self.env, self.parsed = dict(zip(names, values)), parsed
        self.inlining.add(fn.__code__)
        saved = self.frames.get(self.frame)
        self.frames[self.frame] = (outer_env, outer_parsed)   # for its nested functions
        self.frame += 1
        self.call_sites.append((fn, outer_parsed.loc(call)))
        start = len(self.out)
        try:
            result = self.lower_body(parsed.node, hint, fn.__name__)
        except SrcgradError as exc:
            raise _called_from(exc, fn, outer_parsed.loc(call)) from None
        finally:
            self.call_sites.pop()
            self.frame -= 1
            self.frames[self.frame] = saved
            self.inlining.discard(fn.__code__)
            inner, self.env, self.parsed = self.env, outer_env, outer_parsed
        written = self.written_groups(self.out[start:])
        for name, old in zip(names, values):
            self.follow_writes(old, inner.get(name), written)
        return result

    def call_arguments(self, call):
        """The lowered arguments and keywords of a call (no ``*args``/``**kwargs``)."""
        if any(isinstance(a, gast.Starred) for a in call.args) or \
                any(kw.arg is None for kw in call.keywords):
            self.refuse(call, "*args and **kwargs in calls are not supported", "call")
        return ([self.expr(a, None) for a in call.args],
                {kw.arg: self.expr(kw.value, None) for kw in call.keywords})

    def inline_derivative(self, obj, call, hint):
        """A derivative (``srcgrad.grad(g)``) called inside differentiated code: its
        generated code for these argument kinds, restated as a function, lowered in place.
        Returns None if ``obj`` is not a derivative."""
        args, kwargs = self.call_arguments(call)
        kinds = tuple(self.argument_kind(v, call) for v in args)
        if kwargs:
            self.refuse(call, "a derivative called inside a differentiated function takes "
                              "positional arguments here", "derivative call")
        function = calls.derivative_function(obj, kinds)
        if function is None:
            return None
        return self.inline_user((function, {}), call, hint, (args, kwargs))

    def inline_restated(self, fn, call, hint):
        """``srcgrad.jvp(f, primals, tangents)`` inside differentiated code: the tangent
        program of ``f`` for the primals' kinds, restated as a function, lowered in place."""
        args, kwargs = self.call_arguments(call)
        name = f"srcgrad.{fn.__name__}"
        if kwargs or len(args) != 3:
            self.refuse(call, f"{name} inside a differentiated function takes three positional "
                              f"arguments here: the function, the primals and the tangents",
                        "derivative call")
        callee = _static(args[0])
        if callee is _NOT_STATIC or not callable(callee):
            self.refuse(call, f"{name} inside a differentiated function takes a function "
                              f"defined at module level (or imported)", "derivative call")
        primals, tangents = (list(a.items) if isinstance(a, ir.Seq) else
                             list(a) if isinstance(a, (tuple, list)) else None for a in args[1:])
        if primals is None or tangents is None or len(primals) != len(tangents):
            self.refuse(call, f"{name} takes the primals and the tangents as tuples of the "
                              f"same length, written out here ((x, y), (dx, dy))",
                        "derivative call")
        kinds = tuple(self.argument_kind(v, call) for v in primals)
        function = calls.RESTATED[fn](callee, kinds)
        return self.inline_user((function, {}), call, hint, (primals + tangents, {}))

    def inline_vjp(self, fn, call, hint):
        """``out, pullback = srcgrad.vjp(f, *primals)`` inside differentiated code: ``f``
        lowered in place, and a pullback whose calls lower ``f``'s adjoint in place."""
        args, kwargs = self.call_arguments(call)
        callee = _static(args[0]) if args else _NOT_STATIC
        target = inlinable(callee) if callee is not _NOT_STATIC and callable(callee) else None
        if kwargs or target is None:
            self.refuse(call, "srcgrad.vjp inside a differentiated function takes a function "
                              "defined at module level (or imported) and its primals, "
                              "positionally", "derivative call")
        primals = tuple(args[1:])
        out = self.inline_user(target, call, hint, (list(primals), {}))
        return (out, Pullback(callee, primals, calls.PULLBACKS[fn]))

    def inline_pullback(self, pullback, call, hint):
        args, kwargs = self.call_arguments(call)
        if kwargs or len(args) != 1:
            self.refuse(call, "a pullback takes one cotangent, shaped like the output",
                        "derivative call")
        kinds = tuple(self.argument_kind(v, call) for v in pullback.primals)
        function = pullback.function_of(pullback.fn, kinds)
        return self.inline_user((function, {}), call, hint, (list(pullback.primals) + args, {}))

    def at_transform_time(self, fn, call, hint):
        """``srcgrad.grad(potential)`` inside a differentiated function: made now, from
        constants (a function of the module, ``wrt``...), and called like any derivative."""
        args, kwargs = self.call_arguments(call)
        values = [_static(v) for v in args]
        keywords = {k: _static(v) for k, v in kwargs.items()}
        if any(v is _NOT_STATIC for v in values + list(keywords.values())):
            self.refuse(call, f"srcgrad.{fn.__name__} inside a differentiated function takes "
                              f"a function defined at module level (or imported) and constant "
                              f"options; a nested function or lambda is not supported yet",
                        "derivative")
        return NamespaceValue(fn(*values, **keywords), hint)

    def argument_kind(self, value, call):
        """The specialization kind (as ``arguments.arg_kind`` gives it) of an operand."""
        kind = self.kind(value)
        if kind in ("float", "int", "bool"):
            return (kind, None, "float64" if kind == "float" else None)
        ndim = self.ndim_of(value)
        if self.integral(value) and ndim is not None:
            return ("intarray", ndim, "int64")
        if kind in ("array", "buffer") and ndim is not None:
            return ("array", ndim, "float64")
        self.refuse(call, "the kind of an argument of this derivative (a float, or an array "
                          "of which rank) is not known here; pass a float or an array made "
                          "in this function", "derivative call")

    def callee_parse(self, fn, bound):
        """The callee's parse (once per lowering and bound object), its name lookups
        guarding the caller's transform too: a changed global of a callee regenerates the
        caller's derivative."""
        key = (fn.__code__, tuple(id(v) for v in bound.values()))
        parsed = self.callees.get(key)
        if parsed is None:
            parsed = self.callees[key] = parse_function(fn, bound)
            self.parsed.bindings.children.append(parsed.bindings)
        return parsed

    def lower_body(self, node, hint, name):
        """The body of a ``def`` or ``lambda`` lowered in the current environment."""
        if isinstance(node, gast.Lambda):
            return self.expr(node.body, hint)
        result = name if name.isidentifier() and not name.startswith("_") else "result"
        body = Canonicalizer(self.parsed).run(node, implicit_return=True, result=result).body
        self.block(body[:-1])
        return self.expr(body[-1].value, hint)

    def located(self, exc):
        """``exc`` saying which calls of the user's functions it comes from (raised later)."""
        for fn, loc in reversed(self.call_sites):
            exc = _called_from(exc, fn, loc)
        return exc

    def follow_writes(self, old, new, written):
        """After a call: if the callee wrote into the array passed as ``old`` (its version
        is now ``new``, in the same buffer group, one of the ``written`` ones), the
        caller's names see the write."""
        if old is new or not (hasattr(old, "name") and hasattr(new, "name")):
            return
        group = self.groups.get(old.name)
        if group is not None and group in written and self.groups.get(new.name) == group:
            self.rebind(old, new)

    def recursive(self, fn) -> bool:
        return fn.__code__ in self.inlining

    def written_by_call(self, call) -> list[str]:
        """The caller's names a call of the user's function writes in place (the loops
        around the call carry them)."""
        callee = self.inlined_callee(call.func)
        if callee is None:
            return []
        fn, bound = callee
        params = list(inspect.signature(fn).parameters)[len(bound):]
        written = written_params(fn)
        names = [a.id for i, a in enumerate(call.args)
                 if isinstance(a, gast.Name) and i < len(params) and params[i] in written]
        names += [kw.value.id for kw in call.keywords
                  if isinstance(kw.value, gast.Name) and kw.arg in written]
        # only the caller's arrays: a number rebound by the callee's ``a -= 1`` stays put
        return [n for n in names if n in self.env and self.is_array(self.env[n])]

    def inlined_callee(self, func):
        """The user's function a call's ``func`` expression names, if it is lowered in place."""
        fn = self.callee_of(func)
        restated = registry.facts(fn).restated if callable(fn) else None
        if restated is not None:        # a library function restated over primitives
            return restated, {}
        target = inlinable(fn) if fn is not None else None
        return target if target is not None and not self.recursive(target[0]) else None


_NOT_STATIC = object()


def _static(value):
    """The Python value of an operand known when the derivative is generated."""
    if isinstance(value, NamespaceValue):
        return value.value
    if isinstance(value, ir.Const):
        return value.value
    if isinstance(value, (ir.Seq, tuple)):
        items = [_static(v) for v in (value.items if isinstance(value, ir.Seq) else value)]
        return _NOT_STATIC if any(i is _NOT_STATIC for i in items) else tuple(items)
    return _NOT_STATIC


def written_params(fn, seen=None) -> set[str]:
    """The parameters of ``fn`` whose arrays it (or a function it calls) writes in place:
    ``p[i] = v``, ``p += v``, or ``p`` passed where a callee writes."""
    seen = set() if seen is None else seen
    if fn.__code__ in seen:
        return set()
    seen.add(fn.__code__)
    node = parse_function(fn).node
    if isinstance(node, gast.Lambda):
        return set()
    params = {a.id for a in node.args.args + node.args.posonlyargs}
    written = set()
    for n in gast.walk(node):
        targets = n.targets if isinstance(n, gast.Assign) else \
            [n.target] if isinstance(n, gast.AugAssign) else []
        for t in targets:
            if isinstance(n, gast.AugAssign) and isinstance(t, gast.Name) and t.id in params:
                written.add(t.id)
            for s in gast.walk(t):            # p[i] = v, also inside a tuple target
                if isinstance(s, gast.Subscript) and isinstance(s.value, gast.Name) and \
                        s.value.id in params:
                    written.add(s.value.id)
        if isinstance(n, gast.Call):
            written |= _written_through(fn, n, params, seen)
    return written


def _written_through(fn, call, params, seen) -> set[str]:
    """Parameters of ``fn`` passed to a call of another user function that writes them."""
    callee = _resolve(fn, call.func)
    target = inlinable(callee) if callee is not None else None
    if target is None:
        return set()
    inner, bound = target
    names = list(inspect.signature(inner).parameters)[len(bound):]
    inner_written = written_params(inner, seen)
    out = {a.id for i, a in enumerate(call.args) if isinstance(a, gast.Name) and a.id in params
           and i < len(names) and names[i] in inner_written}
    out |= {kw.value.id for kw in call.keywords if isinstance(kw.value, gast.Name)
            and kw.value.id in params and kw.arg in inner_written}
    return out


def _resolve(fn, func):
    """What a call's ``func`` names in ``fn``'s module (for the analysis only)."""
    if isinstance(func, gast.Name):
        return fn.__globals__.get(func.id)
    if isinstance(func, gast.Attribute):
        owner = _resolve(fn, func.value)
        return getattr(owner, func.attr, None) if owner is not None else None
    return None


def _called_from(exc: SrcgradError, fn, call_loc):
    """The same error, saying which call of the callee it comes from."""
    note = f"(in '{fn.__name__}', called at {call_loc.file}, line {call_loc.line})"
    if note in exc.message:
        return exc
    out = type(exc).__new__(type(exc))
    SrcgradError.__init__(out, f"{exc.message} {note}", exc.loc, exc.construct)
    return out
