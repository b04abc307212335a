"""Derivatives of derivatives: a generated gradient, restated as a plain function.

``grad(f)`` generates ``f_vjp(*params, seed) -> (value, (dx, ...))``.  Fixing ``seed = 1.0``
and returning what the ``Derivative`` returns (the gradient, a tuple of them, or the
value with them) gives ordinary Python source (tape pushes and pops, in-place adjoint
updates and runtime helpers included), so the whole pipeline applies to it again:
``grad(grad(f))`` (reverse over reverse), ``jvp(grad(f), ...)`` (forward over reverse,
hence ``hvp`` and ``hessian``), ``jacobian(grad(f))``.  The generated code is specialized
per argument kinds, so the restated function is built per kinds as well.
"""

from __future__ import annotations

import ast
import re

from srcgrad import ir, pipeline
from srcgrad.arguments import leaf_ranges
from srcgrad.errors import SrcgradError
from srcgrad.rules import registry
from srcgrad.transforms import emit


def restate(compiled, fn_name: str, many: bool, with_value: bool, trees=None, wrt=()):
    """The plain function computing what a Derivative returns, from its compiled vjp.

    Its parameters are the vjp's: one per leaf of a container argument (``trees``, one
    treedef per argument, None when all are leaves).  The gradient of a container argument
    in ``wrt`` is returned in the argument's structure, as the Derivative returns it."""
    tree = ast.parse(compiled.source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    seed = fn.args.args.pop()
    ret = fn.body[-1]
    assert isinstance(ret, ast.Return) and isinstance(ret.value, ast.Tuple), "unexpected adjoint"
    value, grads = ret.value.elts
    grads = grads.elts if isinstance(grads, ast.Tuple) else [grads]
    if trees is not None:
        leaves = iter(grads)
        grads = [_structured(trees[i], leaves) for i in wrt]
    result = ast.Tuple(grads, ast.Load()) if many else grads[0]
    if with_value:
        result = ast.Tuple([value, result], ast.Load())
    fn.body[-1] = ast.Return(result)
    fn.body.insert(0, ast.Assign([ast.Name(seed.arg, ast.Store())], ast.Constant(1.0)))
    fn.name = fn_name
    source = ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    namespace = dict(compiled.namespace)
    return emit.compile_source(source, namespace, fn_name, fn_name)


def _structured(tree, leaves):
    """An expression building ``tree``'s containers around the next of ``leaves``."""
    if tree.kind == "leaf":
        return next(leaves)
    if tree.kind == "none":
        return ast.Constant(None)
    if tree.kind not in ("tuple", "list", "dict"):
        raise SrcgradError(
            f"derivatives of derivatives with respect to a container holding a {tree.kind} "
            f"value are not supported; pass its arrays in a tuple, list or dict",
            construct="higher-order derivative")
    items = [_structured(child, leaves) for child in tree.children]
    if tree.kind == "dict":
        return ast.Dict([ast.Constant(k) for k in tree.keys], items)
    return (ast.List if tree.kind == "list" else ast.Tuple)(items, ast.Load())


def hvp_function(product, kinds):
    """``hvp(f)`` as a plain function ``(*args, v) -> H @ v`` for arguments of ``kinds``:
    the tangent program of ``grad(f)`` (forward over reverse) with the differentiated
    argument's tangent ``v`` and the others' zero, so a function calling it can itself be
    differentiated."""
    primals = kinds[:-1]
    compiled = pipeline.transformed(product.gradient).compile_jvp(primals)
    tree = ast.parse(compiled.source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    params = [a.arg for a in fn.args.args]
    values, tangents = params[:len(primals)], params[len(primals):]
    position = product.position()
    zeros = []
    for i, (name, kind) in enumerate(zip(tangents, primals)):
        if i == position:
            continue
        zero = "0.0" if kind[0] in ("float", "int", "bool") else f"np.zeros_like({values[i]})"
        zeros.append(ast.parse(f"{name} = {zero}").body[0])
    fn.args.args = [a for i, a in enumerate(fn.args.args)
                    if i < len(primals) or i - len(primals) == position]
    ret = fn.body[-1]
    assert isinstance(ret, ast.Return) and isinstance(ret.value, ast.Tuple), "unexpected jvp"
    fn.body[-1] = ast.Return(ret.value.elts[1])
    fn.body[:0] = zeros
    name = f"{fn.name}_hvp"
    fn.name = name
    source = ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    namespace = dict(compiled.namespace)
    namespace.setdefault("np", __import__("numpy"))
    return emit.compile_source(source, namespace, name, name)


def jvp_function(fn, kinds):
    """``srcgrad.jvp(fn, primals, tangents)`` as a plain function ``(*primals, *tangents)
    -> (value, tangent)`` for primals of ``kinds``: the tangent program itself, so a
    function calling ``jvp`` can be differentiated (tangents of non-float primals are
    ignored, as at the top level)."""
    compiled = pipeline.transformed(fn).compile_jvp(kinds)
    namespace = dict(compiled.namespace)
    namespace.setdefault("np", __import__("numpy"))
    return emit.compile_source(compiled.source, namespace, compiled.name, compiled.name)


def pullback_function(fn, kinds):
    """The pullback of ``srcgrad.vjp(fn, *primals)`` as a plain function ``(*primals,
    cotangent) -> (one cotangent per primal, None for non-float ones)`` for primals of
    ``kinds``: the generated adjoint with its seed as the cotangent, so a function using
    a pullback can itself be differentiated."""
    wrt = tuple(i for i, k in enumerate(kinds) if k[0] in ("float", "array"))
    compiled = pipeline.transformed(fn).compile(kinds, wrt)
    tree = ast.parse(compiled.source)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    ret = node.body[-1]
    assert isinstance(ret, ast.Return) and isinstance(ret.value, ast.Tuple), "unexpected adjoint"
    grads = ret.value.elts[1]
    grads = grads.elts if isinstance(grads, ast.Tuple) else [grads]
    by_position = dict(zip(wrt, grads))
    node.body[-1] = ast.Return(ast.Tuple([by_position.get(i, ast.Constant(None))
                                          for i in range(len(kinds))], ast.Load()))
    node.name = f"{node.name}_pullback"
    source = ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    namespace = dict(compiled.namespace)
    namespace.setdefault("np", __import__("numpy"))
    return emit.compile_source(source, namespace, node.name, node.name)


def hessian_function(hessian, kinds):
    """``hessian(f)`` as a plain function of ``f``'s arguments (of ``kinds``): one
    Hessian-vector product per column, with the unit vectors as ``v``, so a function
    calling it can itself be differentiated.  None for a container argument."""
    names = list(pipeline.transformed(hessian.fn).param_names)[:len(kinds)]
    position = hessian.product.position()
    kind = kinds[position][0] if position < len(kinds) else None
    if kind not in ("float", "array"):
        return None
    own = {}
    for n in ("product", "np", "size", "hess", "k", "unit", "column"):
        own[n] = n
        while own[n] in names:
            own[n] += "_"
    x, args = names[position], ", ".join(names)
    fn_name = f"{pipeline.base_name(hessian.fn)}_hessian"
    o = own
    if kind == "float":
        body = f"    return {o['product']}({args}, 1.0)\n"
    else:
        body = (f"    {o['size']} = np.size({x})\n"
                f"    {o['hess']} = np.zeros(({o['size']}, {o['size']}))\n"
                f"    for {o['k']} in range({o['size']}):\n"
                f"        {o['unit']} = np.zeros({o['size']})\n"
                f"        {o['unit']}[{o['k']}] = 1.0\n"
                f"        {o['column']} = {o['product']}({args}, "
                f"np.reshape({o['unit']}, np.shape({x})))\n"
                f"        {o['hess']}[:, {o['k']}] = np.ravel({o['column']})\n"
                f"    return np.reshape({o['hess']}, np.shape({x}) + np.shape({x}))\n")
    source = f"def {fn_name}({args}):\n{body}".replace("np.", f"{o['np']}.")
    namespace = {o["product"]: hessian.product, o["np"]: __import__("numpy")}
    return emit.compile_source(source, namespace, fn_name, fn_name)


def _generated(loc) -> bool:
    return loc is not None and str(loc.file).startswith("<srcgrad")


def _relocate(result, first, fallback):
    """Point the locations of a derivative of generated code (used by jit errors) at the
    user's lines: the line each generated statement comes from, else the function."""
    if not hasattr(result, "locations") or not hasattr(result, "ir"):
        return result
    for name, loc in list(result.locations.items()):
        if _generated(loc):
            result.locations[name] = _line_loc(loc.text, [], first) or fallback
    if _generated(getattr(result.ir, "loc", None)):
        result.ir.loc = fallback
    return result


def _user_loc(exc: SrcgradError, compiled):
    text = exc.loc.text if exc.loc is not None else ""
    return _line_loc(text, re.findall(r"'([A-Za-z_][A-Za-z0-9_]*)'", exc.message), compiled)


def _line_loc(text: str, helpers: list, compiled):
    """The user's source location behind an error raised on a line of generated code.

    Why: a second-order refusal is found while lowering the generated gradient, so it
    points at generated text (``dx = dx + unarray(dP, x)``) that the user never wrote.
    The names on that line (innermost call's arguments first) lead back to the user's
    statements; failing that, the user's statement whose rule calls the helper.
    """
    names = []
    try:
        tree = ast.parse(text.strip())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Name) and n.func.id in helpers]
        for call in calls:
            names += [n.id for a in reversed(call.args) for n in ast.walk(a) if isinstance(n, ast.Name)]
        names += [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]
    except SyntaxError:
        names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)
    locations = getattr(compiled, "locations", None) or {}
    for n in names:
        if n in locations and locations[n] is not None:
            return locations[n]
    for stmt in ir.walk(compiled.ir.body):
        prim = registry.lookup(getattr(stmt, "fn", None)) if isinstance(stmt, ir.Call) else None
        rules = list(prim.vjps.values()) + list(prim.jvps.values()) if prim else []
        if any(h in getattr(getattr(r, "__code__", None), "co_names", ()) for r in rules for h in helpers):
            return stmt.loc
    return None


def _on_user_lines(method):
    """Re-raise errors about generated code at the user's line they come from."""
    def wrapper(self, kinds_key, *args, **kwargs):
        try:
            result = method(self, kinds_key, *args, **kwargs)
            if hasattr(result, "locations"):
                first = self.first_order(kinds_key)
                result = _relocate(result, first, self.parsed.loc(self.parsed.node))
            return result
        except SrcgradError as exc:
            if exc.loc is None or not str(exc.loc.file).startswith("<srcgrad"):
                raise
            compiled = self.first_order(kinds_key)
            loc = _user_loc(exc, compiled)
            if loc is None:
                raise
            raise type(exc)(f"in the derivative of this line: {exc.message}", loc,
                            exc.construct) from exc
    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class DerivativeTransformed:
    """A ``Derivative`` seen as a function to differentiate (``pipeline.Transformed``'s
    interface; ``api`` registers it with ``pipeline.register_transform``).

    Each argument-kinds specialization restates the derivative's generated code as a plain
    function and hands it to its own ``Transformed``.
    """

    def __init__(self, derivative):
        self.derivative = derivative
        self.fn = derivative
        base = self.base = derivative._current()
        self.parsed = base.parsed
        self.param_names = list(base.param_names)
        self.jitted: dict = {}
        self.last = None
        self._inner: dict = {}
        self._trees: dict = {}          # kinds -> the treedefs of its last specialization

    def first_order(self, kinds_key):
        """The derivative's own generated code for these kinds (and their treedefs)."""
        trees = self._trees.get(kinds_key)
        wrt = self.derivative.wrt
        if trees is not None:
            spans = leaf_ranges(trees)
            wrt = tuple(j for i in wrt for j in spans[i])
        return self.base.compile(kinds_key, wrt, trees)

    def is_current(self) -> bool:
        """Whether the differentiated function's globals are unchanged (see parse.Bindings)."""
        return self.base.is_current()

    def specialization(self, kinds_key, trees=None):
        """The ``Transformed`` of the restated derivative for these argument kinds."""
        d = self.derivative
        if d.has_aux:
            raise SrcgradError(
                "derivatives of derivatives do not take has_aux yet: differentiate a "
                "function returning only the value", self.parsed.loc(self.parsed.node),
                "higher-order derivative")
        trees = trees if trees is not None and any(not t.is_leaf for t in trees) else None
        key = (kinds_key, trees)
        if key in self._inner:
            return self._inner[key]
        with pipeline.LOCK:
            if key in self._inner:
                return self._inner[key]
            self._trees[kinds_key] = trees
            compiled = self.first_order(kinds_key)
            name = f"{pipeline.base_name(d.transformed.fn)}_{'value_and_grad' if d.with_value else 'grad'}"
            function = restate(compiled, name, d.many, d.with_value, trees, d.wrt)
            self._inner[key] = pipeline.Transformed(function)
        return self._inner[key]

    @_on_user_lines
    def lowering_kinds(self, kinds_key, trees=None):
        return self.specialization(kinds_key, trees).lowering_kinds(kinds_key)

    @_on_user_lines
    def typed_ir(self, kinds_key, trees=None, has_aux=False, jit=False):
        return self.specialization(kinds_key, trees).typed_ir(kinds_key, None, has_aux, jit)

    @_on_user_lines
    def compile(self, kinds_key, wrt, trees=None, has_aux=False, jit=False):
        inner = self.specialization(kinds_key, trees)
        self.last = inner.compile(kinds_key, wrt, None, has_aux, jit)
        return self.last

    @_on_user_lines
    def compile_jvp(self, kinds_key, trees=None, jit=False):
        return self.specialization(kinds_key, trees).compile_jvp(kinds_key, jit=jit)

    def dump(self, stage, request):
        """A stage of the pipeline on the restated derivative (see ``pipeline.dump``)."""
        return self._dump(request.kinds, stage, request)

    @_on_user_lines
    def _dump(self, kinds_key, stage, request):
        inner = self.specialization(kinds_key, request.trees)
        return inner.dump(stage, pipeline.Request(kinds_key, request.wrt, None,
                                                  request.has_aux, request.mode))

    def lower(self, kinds, trees=None, has_aux=False):
        kinds_key = tuple(pipeline.FLOAT64 for _ in self.param_names)
        return self.specialization(kinds_key).lower(kinds, None, has_aux)
