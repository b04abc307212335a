"""The public API: grad, value_and_grad, vjp, show; wrt handling and caching.

A derivative is compiled once per function, differentiated arguments and argument
*kinds* (float scalar, int, array of a given rank and dtype); later calls with the same
kinds reuse the generated function.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import numpy as np

from srcgrad import ir
from srcgrad.errors import SrcgradError, WrtError
from srcgrad.transforms import activity, emit, forward, infer_types, parse, reverse, simplify
from srcgrad.transforms.lower import lower


# --------------------------------------------------------------------------- kinds
_FLOAT64 = ("float", None, "float64")
_DTYPE_NAMES: dict = {}


def arg_kind(value):
    """(kind, ndim, dtype name) describing an argument for specialization.

    Called on every gradient call, so the common cases are tested first and cheaply.
    """
    cls = type(value)
    if cls is float:
        return _FLOAT64
    if cls is np.ndarray:
        dtype = value.dtype
        name = _DTYPE_NAMES.get(dtype)
        if name is None:
            name = _DTYPE_NAMES[dtype] = dtype.name
        kind = {"f": "array", "i": "intarray", "u": "intarray"}.get(dtype.kind, "otherarray")
        return (kind, value.ndim, name)
    if isinstance(value, (bool, np.bool_)):
        return ("bool", None, None)
    if isinstance(value, (int, np.integer)):
        return ("int", None, None)
    if isinstance(value, np.floating):
        return ("float", None, value.dtype.name)
    if isinstance(value, float):
        return _FLOAT64
    return ("other", None, None)


def _is_float(value) -> bool:
    return arg_kind(value)[0] in ("float", "array")


# --------------------------------------------------------------------------- compiled pair
@dataclass
class Compiled:
    """One specialization: the IR, the generated source, the callable and its namespace."""

    ir: ir.Function
    source: str
    function: object
    params: list[str]
    namespace: dict
    name: str
    locations: dict          # generated name -> user source location


class Transformed:
    """A function together with its parse, cached per argument kinds."""

    def __init__(self, fn):
        if _is_numba_dispatcher(fn):
            fn = fn.py_func
        if not callable(fn) or not hasattr(fn, "__code__"):
            raise SrcgradError(
                f"cannot differentiate {fn!r}: not a Python function with source; "
                f"register a rule with srcgrad.defvjp", construct=repr(fn))
        self.fn = fn
        self.parsed = parse.parse_function(fn)
        self.param_names = [p for p in inspect.signature(fn).parameters]
        self.cache: dict = {}
        self.jitted: dict = {}
        self.last = None

    def lower(self, kinds: dict) -> ir.Function:
        return lower(self.parsed, kinds)

    def typed_ir(self, kinds_key: tuple):
        """The IR for these argument kinds, with value types from Numba's typing where loops
        need them (see infer_types); returns (ir, typemap)."""
        kinds = {p: k[:2] for p, k in zip(self.param_names, kinds_key)}
        fn_ir = self.lower(kinds)
        typemap = {}
        if infer_types.needs_types(fn_ir):
            probe, namespace = reverse.build_forward(fn_ir, _base_name(self.fn))
            typemap = infer_types.numba_types(probe, namespace, kinds_key)
        if typemap:
            infer_types.refine_kinds(fn_ir, typemap)
        return fn_ir, typemap

    def finish(self, tree, namespace, fn_ir, fn_name, locations) -> Compiled:
        """Simplify, print and compile a generated function."""
        tree = simplify.simplify(tree)
        source = emit.unparse(emit.module([tree])) + "\n"
        function = emit.compile_source(source, namespace, fn_name, self.fn.__name__)
        return Compiled(fn_ir, source, function, fn_ir.params, namespace, fn_name, locations)

    def compile_jvp(self, kinds_key: tuple) -> Compiled:
        """The forward-mode (tangent) program for these argument kinds."""
        key = ("jvp", kinds_key)
        if key not in self.cache:
            fn_ir, typemap = self.typed_ir(kinds_key)
            wrt_names = [p for p, k in zip(fn_ir.params, kinds_key) if k[0] in ("float", "array")]
            active = activity.analyse(fn_ir, wrt_names)
            fn_name = f"{_base_name(self.fn)}_jvp"
            tree, namespace = forward.build_jvp(fn_ir, active, fn_name, typemap)
            self.cache[key] = self.finish(tree, namespace, fn_ir, fn_name, {})
        return self.cache[key]

    def compile(self, kinds_key: tuple, wrt: tuple[int, ...]) -> Compiled:
        """The adjoint (vjp) program for these argument kinds and differentiated positions."""
        key = (kinds_key, wrt)
        if key in self.cache:
            self.last = self.cache[key]
            return self.last
        fn_ir, typemap = self.typed_ir(kinds_key)
        wrt_names = [fn_ir.params[i] for i in wrt]
        active = activity.analyse(fn_ir, wrt_names)
        fn_name = f"{_base_name(self.fn)}_vjp"
        tree, namespace, locations = reverse.build_vjp(fn_ir, active, wrt_names, fn_name, typemap)
        compiled = self.finish(tree, namespace, fn_ir, fn_name, locations)
        self.cache[key] = compiled
        self.last = compiled
        return compiled


@functools.lru_cache(maxsize=None)
def _numba_dispatcher_type():
    try:
        from numba.core.registry import CPUDispatcher
        return CPUDispatcher
    except Exception:                      # numba missing or changed
        return None


def _is_numba_dispatcher(fn) -> bool:
    cls = _numba_dispatcher_type()
    return cls is not None and isinstance(fn, cls)


_TRANSFORMED: dict[int, Transformed] = {}


def _transformed(fn) -> Transformed:
    key = id(fn)
    entry = _TRANSFORMED.get(key)
    if entry is None or entry[0] is not fn:
        if isinstance(fn, Derivative):
            from srcgrad.higher import DerivativeTransformed
            entry = (fn, DerivativeTransformed(fn))
        else:
            entry = (fn, Transformed(fn))
        _TRANSFORMED[key] = entry
    return entry[1]


# --------------------------------------------------------------------------- wrt
def _normalize_wrt(wrt, params: list[str]) -> tuple[tuple[int, ...], bool]:
    """Positions to differentiate and whether the caller asked for a tuple."""
    many = isinstance(wrt, (tuple, list))
    items = list(wrt) if many else [wrt]
    out = []
    for w in items:
        if isinstance(w, str):
            if w not in params:
                raise WrtError(f"wrt names '{w}', but the function's parameters are {params}")
            out.append(params.index(w))
        elif isinstance(w, (int, np.integer)) and not isinstance(w, bool):
            if not -len(params) <= w < len(params):
                raise WrtError(f"wrt={w} is out of range for a function of {len(params)} parameters")
            out.append(int(w) % len(params))
        else:
            raise WrtError(f"wrt entries must be parameter positions or names, not {w!r}")
    return tuple(out), many


def _complete(t: Transformed, args) -> tuple:
    """The arguments with the function's default values filled in for missing ones."""
    if len(args) >= len(t.param_names):
        return tuple(args)
    try:
        bound = inspect.signature(t.fn).bind(*args)
    except TypeError as exc:
        raise SrcgradError(f"{t.fn.__name__}(): {exc}") from None
    bound.apply_defaults()
    return tuple(bound.args)


def _check_args(t: Transformed, args, wrt, kinds=None):
    if len(args) != len(t.param_names):
        raise SrcgradError(f"{t.fn.__name__}() takes {len(t.param_names)} arguments "
                           f"({', '.join(t.param_names)}), {len(args)} given")
    kinds = kinds or _kinds_key(args)
    for i in wrt:
        if kinds[i][0] not in ("float", "array"):
            kind = type(args[i]).__name__
            if isinstance(args[i], np.ndarray):
                kind = f"array of {args[i].dtype}"
            raise WrtError(f"cannot differentiate with respect to '{t.param_names[i]}': it is "
                           f"{kind}; gradients need float scalars or float arrays "
                           f"(pass e.g. float({t.param_names[i]}) or an array of float64)",
                           t.parsed.loc(t.parsed.node), "wrt")


def _cast_like(g, x):
    """A gradient with its input's shape and float dtype."""
    if isinstance(x, np.ndarray):
        g = np.asarray(g, dtype=x.dtype)
        if g.shape != x.shape:
            g = np.broadcast_to(g, x.shape).copy()
        return g
    if isinstance(x, np.floating):
        return x.dtype.type(g)
    return float(g)


def _kinds_key(args):
    return tuple(arg_kind(a) for a in args)


def _seed_like(value):
    if isinstance(value, np.ndarray):
        return np.ones_like(value)
    if isinstance(value, np.floating):
        return value.dtype.type(1)
    return 1.0


def _run(t: Transformed, args, wrt, seed_fn):
    _check_args(t, args, wrt)
    compiled = t.compile(_kinds_key(args), wrt)
    value, grads = compiled.function(*args, seed_fn)
    return compiled, value, grads


class Derivative:
    """What ``grad`` and ``value_and_grad`` return: a callable with its generated code."""

    def __init__(self, fn, wrt=0, with_value=False, jit=False, cache=None):
        self.fn = fn
        self.transformed = _transformed(fn)
        self.wrt, self.many = _normalize_wrt(wrt, self.transformed.param_names)
        self.with_value = with_value
        self.jit = jit or _is_numba_dispatcher(fn) or getattr(fn, "jit", False) is True
        self.cache = _numba_caches(fn) if cache is None else cache
        functools.update_wrapper(self, self.transformed.fn, updated=())

    def __call__(self, *args):
        t = self.transformed
        args = _complete(t, args)
        kinds = _kinds_key(args)
        _check_args(t, args, self.wrt, kinds)
        compiled = self._compile(kinds)
        self._check_scalar_result(compiled, args)
        try:
            value, grads = compiled.function(*args, 1.0)
        except Exception as exc:
            _scalar_output(t.fn(*args), t.fn, compiled)   # a non-scalar output explains it
            raise exc
        value = _scalar_output(value, t.fn, compiled)
        grads = tuple(_cast_like(g, args[i]) for g, i in zip(grads, self.wrt))
        result = grads if self.many else grads[0]
        return (value, result) if self.with_value else result

    def compile(self, *args):
        """Transform (and with jit, prepare Numba for) these argument types without running.

        Returns the compiled derivative: ``.source`` is its generated code and
        ``.function(*args, seed)`` returns ``(value, gradients)``.
        """
        args = _complete(self.transformed, args)
        kinds = _kinds_key(args)
        _check_args(self.transformed, args, self.wrt, kinds)
        return self._compile(kinds)

    def _compile(self, kinds_key):
        self._kinds = kinds_key
        if self.jit:
            return _jit_compile(self.transformed, kinds_key, self.wrt, self.cache)
        return self.transformed.compile(kinds_key, self.wrt)

    def _check_scalar_result(self, compiled, args):
        if compiled.ir is not None and isinstance(compiled.ir.result, ir.Seq):
            _scalar_output((), self.transformed.fn, compiled)

    @property
    def source(self) -> str:
        return self._latest().source

    def _latest(self):
        """The specialization of the last call (float arguments if there was none)."""
        t = self.transformed
        kinds = getattr(self, "_kinds", None) or tuple(_FLOAT64 for _ in t.param_names)
        return t.compile(kinds, self.wrt)


def _base_name(fn) -> str:
    return fn.__name__ if fn.__name__.isidentifier() else "f"


def _numba_caches(fn) -> bool:
    """A Numba dispatcher created with ``cache=True`` gets a disk-cached derivative too."""
    cache = getattr(fn, "_cache", None)
    return cache is not None and type(cache).__name__ != "NullCache"


def _jit(compiled):
    try:
        from srcgrad.backends import numba as numba_backend
    except ImportError:
        raise SrcgradError("jit=True needs Numba: pip install 'srcgrad[jit]'", construct="jit") from None
    return numba_backend.jitted(compiled)


def _jit_compile(t: Transformed, kinds_key, wrt, cache: bool):
    """The Numba-compiled derivative, from the disk cache when ``cache`` is set."""
    key = (kinds_key, wrt)
    if key in t.jitted:
        return t.jitted[key]
    if not cache:
        result = _jit(t.compile(kinds_key, wrt))
    else:
        from srcgrad.backends import cache as disk
        from srcgrad.backends import numba as numba_backend
        digest = disk.key(t.fn, kinds_key, wrt)
        module = disk.load(digest)
        compiled = None
        if module is None:
            compiled = t.compile(kinds_key, wrt)
            module = disk.store(digest, compiled.source, compiled.namespace, compiled.name)
        if module is None:               # not importable by name: compile in memory
            result = _jit(compiled)
        else:
            name = f"{_base_name(t.fn)}_vjp"
            result = numba_backend.jitted_cached(getattr(module, name), compiled,
                                                 t.parsed.loc(t.parsed.node))
    t.jitted[key] = result
    return result


def _scalar_output(value, fn, compiled=None):
    loc = getattr(compiled.ir, "result_loc", None) if compiled is not None else None
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise SrcgradError(
                f"grad needs {fn.__name__} to return a scalar, but it returned an array of shape "
                f"{value.shape}; use srcgrad.vjp for array outputs", loc, "return")
        return value.reshape(()).item() if value.ndim else value[()]
    if isinstance(value, (tuple, list)):
        raise SrcgradError(f"grad needs {fn.__name__} to return a scalar, not a "
                           f"{type(value).__name__}; use srcgrad.vjp for several outputs",
                           loc, "return")
    return value


def grad(fn=None, wrt=0, *, jit: bool = False, cache: bool | None = None):
    """The gradient of a scalar function w.r.t. the argument(s) ``wrt`` (positions or names).

    ``jit=True`` compiles the derivative with Numba (the default for ``@numba.njit``
    functions); ``cache=True`` keeps it on disk for later processes (the default for
    ``@numba.njit(cache=True)`` functions).
    """
    if fn is None:
        return lambda f: Derivative(f, wrt, jit=jit, cache=cache)
    return Derivative(fn, wrt, jit=jit, cache=cache)


def value_and_grad(fn=None, wrt=0, *, jit: bool = False, cache: bool | None = None):
    """Like ``grad`` but returns ``(value, gradient)``."""
    if fn is None:
        return lambda f: Derivative(f, wrt, with_value=True, jit=jit, cache=cache)
    return Derivative(fn, wrt, with_value=True, jit=jit, cache=cache)


def vjp(fn, *primals, jit: bool = False):
    """``(out, pullback)`` with ``pullback(cotangent) -> tuple`` of one cotangent per primal.

    Non-float primals get ``None``.  The pullback reruns the forward sweep (the generated
    function keeps both sweeps together).
    """
    t = _transformed(fn)
    primals = _complete(t, primals)
    wrt = tuple(i for i, a in enumerate(primals) if _is_float(a))
    _check_args(t, primals, wrt)
    compiled = t.compile(_kinds_key(primals), wrt)
    if jit or _is_numba_dispatcher(fn):
        compiled = _jit_compile(t, _kinds_key(primals), wrt, _numba_caches(fn))
    out = fn(*primals)

    def pullback(cotangent):
        ct = _copy_tree(cotangent)
        _check_cotangent(ct, out)
        _, grads = compiled.function(*primals, ct)
        result = [None] * len(primals)
        for g, i in zip(grads, wrt):
            result[i] = _cast_like(g, primals[i])
        return tuple(result)
    return out, pullback


def jvp(fn, primals, tangents, *, jit: bool = False):
    """Forward mode: ``(f(*primals), J @ tangents)``, JAX's convention.

    ``tangents`` has one entry per primal, shaped like it; entries for non-float primals
    are ignored.  The tangent program runs beside the primal, with no tape.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise SrcgradError(f"jvp got {len(primals)} primals but {len(tangents)} tangents")
    t = _transformed(fn)
    _check_args(t, primals, ())
    kinds = _kinds_key(primals)
    for i, (p, tan) in enumerate(zip(primals, tangents)):
        if kinds[i][0] in ("float", "array") and np.shape(tan) != np.shape(p):
            raise SrcgradError(f"the tangent of '{t.param_names[i]}' has shape {np.shape(tan)}, "
                               f"but the primal has shape {np.shape(p)}")
    compiled = t.compile_jvp(kinds)
    if jit or _is_numba_dispatcher(fn):
        compiled = _jit(compiled)
    cast = tuple(_cast_like(tan, p) if kinds[i][0] in ("float", "array") else 0.0
                 for i, (p, tan) in enumerate(zip(primals, tangents)))
    return compiled.function(*primals, *cast)


def jacobian(fn, wrt=0, *, jit: bool = False):
    """``J(*args)``: the Jacobian of ``fn`` w.r.t. argument ``wrt``, built by rows with vjp.

    Shape ``out.shape + x.shape`` (JAX's ``jacrev``): one pullback per output entry.
    """
    def jac(*args):
        position = _normalize_wrt(wrt, _transformed(fn).param_names)[0][0]
        out, pullback = vjp(fn, *args, jit=jit)
        out = np.asarray(out)
        x = args[position]
        rows = np.empty((out.size,) + np.shape(x), dtype=np.result_type(out, x, float))
        for k in range(out.size):
            ct = np.zeros(out.shape, dtype=rows.dtype)
            ct.flat[k] = 1.0
            rows[k] = pullback(ct if out.ndim else float(ct))[position]
        return rows.reshape(out.shape + np.shape(x))
    return jac


def jacfwd(fn, wrt=0, *, jit: bool = False):
    """``J(*args)``: the Jacobian of ``fn`` w.r.t. argument ``wrt``, built by columns with jvp."""
    def jac(*args):
        position = _normalize_wrt(wrt, _transformed(fn).param_names)[0][0]
        x = np.asarray(args[position], dtype=float)
        columns = []
        for k in range(x.size):
            tangents = [np.zeros_like(a) if isinstance(a, np.ndarray) else 0.0 for a in args]
            e = np.zeros(x.shape)
            e.flat[k] = 1.0
            tangents[position] = e if x.ndim else 1.0
            columns.append(np.asarray(jvp(fn, args, tangents, jit=jit)[1]))
        out_shape = columns[0].shape
        J = np.stack(columns, axis=-1).reshape(out_shape + x.shape)
        return J
    return jac


def hessian(fn, wrt=0, *, jit: bool = False):
    """``H(*args)``: the Hessian of a scalar ``fn`` w.r.t. argument ``wrt``, shape
    ``x.shape + x.shape``, forward over reverse: ``jacfwd`` of the generated gradient."""
    return jacfwd(grad(fn, wrt, jit=jit), wrt, jit=jit)


def hvp(fn, wrt=0, *, jit: bool = False):
    """``hvp(f)(*args, v)``: the Hessian-vector product ``H @ v`` without forming ``H``.

    One forward-mode pass over the generated gradient (forward over reverse), so it costs
    a small multiple of one gradient, whatever the size of ``x``.
    """
    gradient = grad(fn, wrt, jit=jit)

    def product(*args):
        if not args:
            raise SrcgradError("hvp(f)(*args, v) needs the arguments of f and a vector v")
        *primals, v = args
        t = _transformed(fn)
        primals = _complete(t, primals)
        position = _normalize_wrt(wrt, t.param_names)[0][0]
        tangents = [np.zeros_like(a) if isinstance(a, np.ndarray) else 0.0 for a in primals]
        tangents[position] = v
        return jvp(gradient, primals, tangents, jit=jit)[1]
    return product


def _copy_tree(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (tuple, list)):
        return type(value)(_copy_tree(v) for v in value)
    return value


def _check_cotangent(ct, out):
    if isinstance(out, (tuple, list)):
        if not isinstance(ct, (tuple, list)) or len(ct) != len(out):
            raise SrcgradError(f"the output is a {type(out).__name__} of {len(out)} values; "
                               f"pass one cotangent per value")
        for c, o in zip(ct, out):
            _check_cotangent(c, o)
        return
    if np.shape(ct) != np.shape(out):
        raise SrcgradError(f"the cotangent has shape {np.shape(ct)} but the output has shape "
                           f"{np.shape(out)}")


def show(f, stage: str = "source", *, mode: str = "reverse", file=None) -> str:
    """Print (and return) the generated derivative source, or the IR with ``stage="ir"``.

    ``mode="forward"`` shows the tangent (jvp) program of ``f`` instead of its adjoint.
    """
    if mode == "forward" and stage == "source":
        t = _transformed(f.fn if isinstance(f, Derivative) else f)
        kinds = getattr(f, "_kinds", None) or tuple(_FLOAT64 for _ in t.param_names)
        text = t.compile_jvp(kinds).source.rstrip("\n")
        print(text, file=file)
        return text
    if mode not in ("reverse", "forward"):
        raise ValueError(f"unknown mode {mode!r}; use 'reverse' or 'forward'")
    if isinstance(f, Derivative):
        t = f.transformed
        target = f
    else:
        t = _transformed(f)
        target = None
    if stage == "ir":
        fn_ir = t.last.ir if t.last is not None else t.lower({})
        text = ir.format_function(fn_ir)
    elif stage == "source":
        if target is None:
            target = Derivative(f)
        text = target.source.rstrip("\n")
    else:
        raise ValueError(f"unknown stage {stage!r}; use 'source' or 'ir'")
    print(text, file=file)
    return text
