"""The public API: grad, value_and_grad, vjp, jvp, show; wrt handling and caching.

A derivative is compiled once per function, differentiated arguments and argument
*kinds* (float scalar, int, array of a given rank and dtype); later calls with the same
kinds reuse the generated function.  Container arguments (pytrees) are flattened to
their leaves here, at the boundary: the generated function takes one parameter per leaf,
the specialization key holds each argument's treedef, and gradients, tangents and
results are rebuilt in their argument's or the result's structure.

Generated code has the function's globals resolved, so a transform is reused only while
the globals, closure cells and attributes it read still hold the same objects
(``parse.Bindings``): without jit every call checks that and transforms again after a
change, so a derivative sees globals as Python does when it runs; with jit they are taken
when a specialization is compiled, as Numba does.  Transforms, their caches and Numba's
typing are shared between threads, so building them is serialized by one re-entrant lock
(``_LOCK``), always taken before Numba's compiler lock, never while holding it.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import threading
from dataclasses import dataclass

import gast
import numpy as np

from srcgrad import ir, pytree
from srcgrad.errors import EvaluationError, Loc, SrcgradError, WrtError
from srcgrad.transforms import activity, emit, forward, infer_types, parse, reverse, simplify, types
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
        kind = {"f": "array", "i": "intarray", "u": "intarray", "c": "complexarray"}.get(
            dtype.kind, "otherarray")
        return (kind, value.ndim, name)
    if isinstance(value, (bool, np.bool_)):
        return ("bool", None, None)
    if isinstance(value, (int, np.integer)):
        return ("int", None, None)
    if isinstance(value, np.floating):
        return ("float", None, value.dtype.name)
    if isinstance(value, float):
        return _FLOAT64
    if isinstance(value, (complex, np.complexfloating)):
        return ("complex", None, None)      # refused where it meets a derivative
    return ("other", None, None)


def _is_float(value) -> bool:
    return arg_kind(value)[0] in ("float", "array")


def _flatten_args(args) -> tuple[list, tuple]:
    """Every argument's leaves, in order, and one treedef per argument."""
    leaves, trees = [], []
    for a in args:
        cls = type(a)
        if cls is float or cls is np.ndarray:       # the common case, cheaply
            leaves.append(a)
            trees.append(pytree.LEAF)
            continue
        sub, tree = pytree.flatten(a)
        leaves.extend(sub)
        trees.append(tree)
    return leaves, tuple(trees)


def _trees_key(trees: tuple):
    """The treedefs as part of a specialization key: None when every argument is a leaf."""
    return None if all(t.is_leaf for t in trees) else trees


def _leaf_ranges(trees) -> list[range]:
    """The positions of each argument's leaves among all leaves."""
    out, start = [], 0
    for tree in trees:
        out.append(range(start, start + tree.num_leaves))
        start += tree.num_leaves
    return out


#: Serializes building transforms and derivatives (not calling them).  Taken before
#: Numba's compiler lock (type inference, compiles), never inside it.
_LOCK = threading.RLock()


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
    """A function together with its parse, cached per argument kinds.

    ``callable`` is what the user passed: a function, a bound method or a
    ``functools.partial``.  ``fn`` is the Python function whose source is differentiated;
    parameters already bound (``self``, a partial's positional arguments) are resolved
    like closure values at transform time, so ``param_names`` (and ``wrt`` positions) are
    those of the callable's own signature, as in Python and JAX.
    """

    def __init__(self, fn):
        self.callable = fn
        target, bound = _unbind(fn)
        if _is_numba_dispatcher(target):
            target = target.py_func
        if not inspect.isfunction(target):
            raise SrcgradError(
                f"cannot differentiate {fn!r}: not a Python function with source; "
                f"register a rule with srcgrad.defvjp", construct=repr(fn))
        self.fn = target
        self.parsed = parse.parse_function(target, bound)
        self.bound = bound
        self.signature = _signature(fn, target)
        _refuse_variadic(self.parsed, target, fn)
        code = target.__code__
        order = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        self.param_names = [p for p in order if p not in bound]
        self.keyword_only = {p for p, v in self.signature.parameters.items()
                             if v.kind is v.KEYWORD_ONLY}
        self.cache: dict = {}
        self.jitted: dict = {}
        self.last = None
        self.watched = [(n, ()) for n, v in bound.items() if isinstance(v, np.ndarray)]
        self.watched += _attribute_paths(self.parsed.node, bound)
        self.snapshot = self._read_watched()

    def _read_watched(self) -> list:
        """The current value of every ``self.a.b`` the function reads, and of bound
        arrays (arrays copied)."""
        out = []
        for name, path in self.watched:
            value = self.bound[name]
            if not path:
                out.append(_snapshot(value))
            for attr in path:
                value = getattr(value, attr, _ABSENT)
                out.append(_snapshot(value))
                if value is _ABSENT:
                    break
        return out

    def refresh(self) -> bool:
        """Regenerate the derivative if an attribute of a bound value it read changed
        (returns whether it did).

        Attributes of ``self`` are constants of the generated code (Numba even freezes
        arrays at compile time), so a rebound ``self.k`` or an array updated in place
        must not leave the derivative computing with the old values, with jit too: the
        bound object is the user's live state, not a module constant.
        """
        if not self.watched:
            return False
        current = self._read_watched()
        if any(not _same_value(a, b) for a, b in zip(current, self.snapshot)):
            self.snapshot = current
            self.cache.clear()
            self.jitted.clear()
            self.last = None
            return True
        return False

    def call(self, args):
        """Run the user's callable on completed arguments (one per parameter), as Python
        would: keyword-only parameters by keyword."""
        return _call_split(self.callable, self.param_names, self.keyword_only, args)

    def is_current(self) -> bool:
        """Whether the globals (and cells, attributes) the transform read are unchanged."""
        return self.parsed.bindings.current()

    def lower(self, kinds: dict, trees=None, has_aux=False) -> ir.Function:
        return lower(self.parsed, kinds, trees, has_aux)

    def lowering_kinds(self, kinds_key: tuple, trees=None) -> tuple[dict, dict]:
        """(parameter -> (kind, ndim)) for leaf arguments and (parameter -> (treedef, leaf
        kinds)) for container arguments, from the per-leaf kinds of a specialization key."""
        if trees is None:
            return {p: k[:2] for p, k in zip(self.param_names, kinds_key)}, {}
        kinds, structures = {}, {}
        for name, tree, span in zip(self.param_names, trees, _leaf_ranges(trees)):
            leaf_kinds = [kinds_key[i][:2] for i in span]
            if tree.is_leaf:
                kinds[name] = leaf_kinds[0]
            else:
                structures[name] = (tree, leaf_kinds)
        return kinds, structures

    def typed_ir(self, kinds_key: tuple, trees=None, has_aux=False, jit=False):
        """The IR for these argument kinds, with value types where loops need them
        (``types.infer``; with jit, Numba's own typing where it has one); returns
        (ir, typemap)."""
        fn_ir = self.lower(*self.lowering_kinds(kinds_key, trees), has_aux)
        typemap = {}
        if infer_types.needs_types(fn_ir):
            typemap = types.infer(fn_ir, kinds_key)
            if jit:
                probe, namespace = reverse.build_forward(fn_ir, _base_name(self.fn))
                typemap.update(infer_types.numba_types(probe, namespace, kinds_key))
                typemap = {n: t for n, t in typemap.items() if t is not None}
            types.refine_kinds(fn_ir, typemap)
        return fn_ir, typemap

    def finish(self, tree, namespace, fn_ir, fn_name, locations) -> Compiled:
        """Simplify, print and compile a generated function."""
        tree = simplify.simplify(tree)
        source = emit.unparse(emit.module([tree])) + "\n"
        function = emit.compile_source(source, namespace, fn_name, self.fn.__name__)
        return Compiled(fn_ir, source, function, fn_ir.params, namespace, fn_name, locations)

    def compile_jvp(self, kinds_key: tuple, trees=None, jit=False) -> Compiled:
        """The forward-mode (tangent) program for these argument kinds (typed for Numba
        with ``jit``)."""
        key = ("jvp", kinds_key, trees, jit)
        if key in self.cache:
            return self.cache[key]
        with _LOCK:
            if key in self.cache:
                return self.cache[key]
            fn_ir, typemap = self.typed_ir(kinds_key, trees, jit=jit)
            wrt_names = [p for p, k in zip(fn_ir.params, kinds_key) if k[0] in ("float", "array")]
            active = activity.analyse(fn_ir, wrt_names)
            fn_name = f"{_base_name(self.fn)}_jvp"
            tree, namespace = forward.build_jvp(fn_ir, active, fn_name, typemap)
            self.cache[key] = self.finish(tree, namespace, fn_ir, fn_name, {})
        return self.cache[key]

    def compile(self, kinds_key: tuple, wrt: tuple[int, ...], trees=None,
                has_aux=False, jit=False) -> Compiled:
        """The adjoint (vjp) program for these argument kinds and differentiated positions.

        ``kinds_key`` and ``wrt`` are per leaf; ``trees`` holds each argument's treedef
        (None when all are leaves); ``jit`` types its values as Numba will.
        """
        key = (kinds_key, wrt, trees, has_aux, jit)
        compiled = self.cache.get(key)
        if compiled is None:
            with _LOCK:
                compiled = self.cache.get(key)
                if compiled is None:
                    compiled = self.cache[key] = self._build(kinds_key, wrt, trees, has_aux, jit)
        self.last = compiled
        return compiled

    def _build(self, kinds_key, wrt, trees, has_aux, jit) -> Compiled:
        fn_ir, typemap = self.typed_ir(kinds_key, trees, has_aux, jit)
        wrt_names = [fn_ir.params[i] for i in wrt]
        active = activity.analyse(fn_ir, wrt_names)
        fn_name = f"{_base_name(self.fn)}_vjp"
        tree, namespace, locations = reverse.build_vjp(fn_ir, active, wrt_names, fn_name, typemap)
        return self.finish(tree, namespace, fn_ir, fn_name, locations)


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


_ABSENT = object()


def _attribute_paths(node, bound) -> list[tuple[str, tuple[str, ...]]]:
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


def _snapshot(value):
    """A copy of the data in ``value`` (arrays and the containers holding them), so a
    later in-place change shows; other objects as they are."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(v) for v in value) if type(value) in (list, tuple) else value
    if type(value) is dict:
        return {k: _snapshot(v) for k, v in value.items()}
    return value


def _same_value(a, b) -> bool:
    """Whether a watched value (``b``: its snapshot) is unchanged."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, (int, float, complex, str, bytes, np.number, np.bool_)):
        return a == b or (a != a and b != b)
    if hasattr(a, "__self__") and callable(a):
        # a method looked up again is a new object: the same method of the same owner
        # (the owner is watched on its own, as the chain's previous link)
        return getattr(a, "__func__", None) is getattr(b, "__func__", None) and \
            getattr(a, "__name__", None) == getattr(b, "__name__", None)
    return False


def _unbind(fn) -> tuple[object, dict]:
    """The function to differentiate and its parameters bound before the call.

    A bound method binds its first parameter to ``__self__``; a ``functools.partial``
    binds the next parameters to its positional arguments (its keywords stay parameters
    with new defaults, as ``inspect.signature`` shows them); an object with a
    ``__call__`` method is its bound ``__call__``.
    """
    if isinstance(fn, functools.partial):
        target, bound = _unbind(fn.func)
        free = _positional_params(target, bound)
        if len(fn.args) > len(free):
            raise SrcgradError(f"{fn!r} binds {len(fn.args)} positional arguments, but the "
                               f"function has {len(free)} positional parameters left",
                               construct="functools.partial")
        bound.update(zip(free, fn.args))
        return target, bound
    if inspect.ismethod(fn):
        target, bound = _unbind(fn.__func__)
        free = _positional_params(target, bound)
        if not free:
            raise SrcgradError(f"{fn!r} is a method without a parameter for 'self'",
                               construct="method")
        bound[free[0]] = fn.__self__
        return target, bound
    if not isinstance(fn, type) and inspect.isfunction(getattr(type(fn), "__call__", None)):
        return _unbind(fn.__call__)          # a callable object: its bound __call__
    return fn, {}


def _positional_params(fn, bound) -> list[str]:
    if _is_numba_dispatcher(fn):
        fn = fn.py_func
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    return [p for p in code.co_varnames[:code.co_argcount] if p not in bound]


def _signature(fn, target) -> inspect.Signature:
    """The signature a call of ``fn`` binds against: not following ``__wrapped__`` (the
    wrapper is what runs), a partial's and a method's bound parameters removed."""
    try:
        if _is_numba_dispatcher(fn):
            return inspect.signature(fn.py_func, follow_wrapped=False)
        return inspect.signature(fn, follow_wrapped=False)
    except (TypeError, ValueError):
        return inspect.signature(target, follow_wrapped=False)


def _refuse_variadic(parsed, fn, passed=None) -> None:
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


_TRANSFORMED: dict[int, Transformed] = {}


def _transformed(fn) -> Transformed:
    """The transform of ``fn`` for the globals it reads now (made again after a change)."""
    # ``model.loss`` is a new bound method at each access: key it by its object and
    # function, so srcgrad.grad(model.loss) inside a training loop reuses the derivative
    method = inspect.ismethod(fn)
    key = (id(fn.__self__), id(fn.__func__)) if method else id(fn)

    def reusable(entry):
        return entry is not None and (entry[0] is fn or (method and entry[0] == fn)) \
            and entry[1].is_current()
    entry = _TRANSFORMED.get(key)
    if not reusable(entry):
        with _LOCK:
            entry = _TRANSFORMED.get(key)
            if not reusable(entry):
                if isinstance(fn, Derivative):
                    from srcgrad.higher import DerivativeTransformed
                    entry = (fn, DerivativeTransformed(fn))
                else:
                    entry = (fn, Transformed(fn))
                _TRANSFORMED[key] = entry
                return entry[1]
    if hasattr(entry[1], "refresh"):
        entry[1].refresh()
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


def _complete(t: Transformed, args, kwargs=None) -> tuple:
    """One argument per parameter, in ``t.param_names`` order: keyword arguments placed
    and default values filled in, as Python binds a call."""
    keyword_only = getattr(t, "keyword_only", ())
    if not kwargs and not keyword_only and len(args) >= len(t.param_names):
        return tuple(args)
    signature = getattr(t, "signature", None) or inspect.signature(t.fn)
    try:
        bound = signature.bind(*args, **(kwargs or {}))
    except TypeError as exc:
        raise SrcgradError(f"{getattr(t.fn, '__name__', 'f')}(): {exc}",
                           construct="arguments") from None
    bound.apply_defaults()
    return tuple(bound.arguments[p] for p in t.param_names)


def _call(t, args):
    """The user's function on completed arguments (keyword-only ones by keyword)."""
    if hasattr(t, "call"):
        return t.call(args)
    inner = getattr(t.fn, "transformed", None)           # a derivative of a derivative
    return _call_split(t.fn, t.param_names, getattr(inner, "keyword_only", ()), args)


def _call_split(fn, param_names, keyword_only, args):
    """``fn`` on one argument per parameter, keyword-only ones passed by keyword."""
    if not keyword_only:
        return fn(*args)
    positional = [a for p, a in zip(param_names, args) if p not in keyword_only]
    keywords = {p: a for p, a in zip(param_names, args) if p in keyword_only}
    return fn(*positional, **keywords)


def _primal_or_located(t, args, failure):
    """After the generated code raised ``failure``: run the user's function itself.

    If it raises too, the error is the user's own operation (shapes that do not
    broadcast...): an EvaluationError at the user's line, chaining ``failure``.  Otherwise
    return its value, so the caller can explain or re-raise (a genuine srcgrad bug stays
    visible as it was).
    """
    try:
        return _call(t, args)
    except SrcgradError:
        raise
    except Exception as exc:
        raise _evaluation_error(t, exc) from failure


def _evaluation_error(t, exc) -> EvaluationError:
    """``exc``, raised by the user's own function, as an error at the user's line."""
    name = getattr(t.fn, "__name__", "f")
    return EvaluationError(f"{type(exc).__name__} in {name} (the function itself fails on "
                           f"these arguments, before any derivative): {exc}",
                           _user_frame(exc.__traceback__, t), "evaluation")


def _user_frame(tb, t) -> Loc | None:
    """The deepest traceback frame in the differentiated function's file (else in the
    function itself) as a location."""
    parsed = getattr(t, "parsed", None)
    file = getattr(parsed, "file", None)
    code = getattr(getattr(t, "fn", None), "__code__", None)
    best = None
    while tb is not None:
        frame_code = tb.tb_frame.f_code
        if frame_code is code or (file is not None and frame_code.co_filename == file):
            positions = list(frame_code.co_positions())
            col = positions[tb.tb_lasti // 2][2] if tb.tb_lasti // 2 < len(positions) else None
            best = (frame_code.co_filename, tb.tb_lineno, col or 0)
        tb = tb.tb_next
    if best is None:
        return parsed.loc(parsed.node) if parsed is not None else None
    line = linecache.getline(best[0], best[1]).rstrip("\n")
    text = line.lstrip()
    return Loc(best[0], best[1], max(best[2] - (len(line) - len(text)), 0), text)


def _check_args(t: Transformed, args, wrt, kinds=None):
    """The argument count, and that every differentiated leaf is a float (else a WrtError
    naming its path, such as ``params["layers"][2]["n"]``)."""
    if len(args) != len(t.param_names):
        raise SrcgradError(f"{t.fn.__name__}() takes {len(t.param_names)} arguments "
                           f"({', '.join(t.param_names)}), {len(args)} given")
    leaves, trees = _flatten_args(args)
    kinds = kinds or _kinds_key(leaves)
    spans = _leaf_ranges(trees)
    for i in wrt:
        name = t.param_names[i]
        if not spans[i]:                     # None, or a container without leaves
            what = "None" if args[i] is None else f"an empty {type(args[i]).__name__}"
            raise WrtError(f"cannot differentiate with respect to '{name}': it is {what}; "
                           f"gradients need float scalars or float arrays (pass e.g. 0.0 or "
                           f"an array of float64, or choose another parameter with wrt=)",
                           t.parsed.loc(t.parsed.node), "wrt")
        paths = [name] if trees[i].is_leaf else pytree.paths(trees[i], name)
        for path, position in zip(paths, spans[i]):
            if kinds[position][0] in ("float", "array"):
                continue
            leaf = leaves[position]
            kind = f"array of {leaf.dtype}" if isinstance(leaf, np.ndarray) else type(leaf).__name__
            raise WrtError(f"cannot differentiate with respect to '{path}': it is "
                           f"{kind}; gradients need float scalars or float arrays "
                           f"(pass e.g. float({path}) or an array of float64)",
                           t.parsed.loc(t.parsed.node), "wrt")


def _cast_like(g, x):
    """A gradient with its input's shape and float dtype.

    A gradient of another shape (other than a scalar zero standing for an array) would be
    a compiler bug: it is reported, never broadcast or truncated into a wrong answer.
    """
    if np.ndim(g) != 0 and np.shape(g) != np.shape(x):
        raise SrcgradError(
            f"internal error: a gradient of shape {np.shape(g)} was computed for an argument "
            f"of shape {np.shape(x)}; please report this (srcgrad.show() prints the code)",
            construct="gradient")
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


@dataclass(frozen=True)
class _Spec:
    """One call's specialization: per-leaf kinds, per-argument treedefs (None if all are
    leaves) and the differentiated leaf positions."""

    kinds: tuple
    trees: tuple | None
    wrt: tuple


class Derivative:
    """What ``grad`` and ``value_and_grad`` return: a callable with its generated code."""

    def __init__(self, fn, wrt=0, with_value=False, jit=False, cache=None, has_aux=False):
        self.fn = fn
        self.transformed = _transformed(fn)
        self.wrt, self.many = _normalize_wrt(wrt, self.transformed.param_names)
        self.with_value = with_value
        self.has_aux = has_aux
        self.jit = jit or _is_numba_dispatcher(fn) or getattr(fn, "jit", False) is True
        self.cache = _numba_caches(fn) if cache is None else cache
        if self.cache and getattr(self.transformed, "bound", None):
            raise SrcgradError(
                f"cache=True cannot be used for {fn!r}: the disk cache is keyed by the "
                f"function's source, and the values bound by the method or partial "
                f"({', '.join(self.transformed.bound)}) are not part of it. Use cache=False",
                construct="cache")
        if self.cache and hasattr(self.transformed.fn, "__wrapped__"):
            # the disk cache's key reads the source through inspect, which follows
            # __wrapped__: the wrapper and the function it wraps would share an entry
            raise SrcgradError(
                f"cache=True cannot be used for the decorated {self.transformed.fn.__name__}: "
                f"its disk-cache key would be the undecorated function's. Use cache=False",
                construct="cache")
        self._spec = None
        self._specs: dict = {}               # (kinds, trees) -> checked _Spec
        self._jitted: dict = {}              # id(_Spec) -> compiled, globals as compiled
        functools.update_wrapper(self, self.transformed.fn, updated=())
        signature = getattr(self.transformed, "signature", None)
        if signature is not None:
            self.__signature__ = signature   # the callable's, bound parameters removed

    def __call__(self, *args, **kwargs):
        t = self.transformed
        if t.__dict__.get("watched") and t.refresh():
            self._jitted.clear()
        args = _complete(t, args, kwargs)
        leaves, trees = _flatten_args(args)
        spec = self._specialize(args, leaves, trees)
        compiled = self._compile(spec)
        self._check_scalar_result(compiled, args)
        seed = self._seed(compiled, spec)
        try:
            value, grads = compiled.function(*leaves, seed)
        except SrcgradError:
            raise
        except Exception as exc:
            # the function itself fails on these arguments, or its non-scalar output explains it
            _scalar_output(self._loss(_primal_or_located(t, args, exc)), t.fn, compiled)
            raise
        if self.has_aux:
            value, aux = pytree.unflatten(self._result_tree(compiled, spec), value)
        value = _scalar_output(value, t.fn, compiled)
        if spec.trees is None:
            result = tuple(_cast_like(g, args[i]) for g, i in zip(grads, self.wrt))
        else:
            spans = _leaf_ranges(trees)
            grad_of = dict(zip(spec.wrt, grads))
            result = tuple(pytree.unflatten(trees[i], [_cast_like(grad_of[j], leaves[j])
                                                       for j in spans[i]]) for i in self.wrt)
        result = result if self.many else result[0]
        if self.has_aux:
            return ((value, aux), result) if self.with_value else (result, aux)
        return (value, result) if self.with_value else result

    def compile(self, *args, **kwargs):
        """Transform (and with jit, prepare Numba for) these argument types without running.

        Returns the compiled derivative: ``.source`` is its generated code and
        ``.function(*leaves, seed)`` returns ``(value, gradients)`` (one parameter per leaf
        of a container argument).
        """
        args = _complete(self.transformed, args, kwargs)
        leaves, trees = _flatten_args(args)
        return self._compile(self._specialize(args, leaves, trees))

    def _specialize(self, args, leaves, trees) -> _Spec:
        """The checked specialization for these arguments (cached: called on every call)."""
        kinds = _kinds_key(leaves)
        spec = self._specs.get((kinds, trees))
        if spec is None:
            _check_args(self.transformed, args, self.wrt, kinds)
            spans = _leaf_ranges(trees)
            wrt = tuple(j for i in self.wrt for j in spans[i])
            spec = self._specs[(kinds, trees)] = _Spec(kinds, _trees_key(trees), wrt)
        return spec

    def _current(self) -> Transformed:
        """The transform for the globals as they are now (checked on every call)."""
        t = self.transformed
        if not t.is_current():
            t = self.transformed = _transformed(self.fn)
        return t

    def _compile(self, spec: _Spec):
        """Without jit, the derivative for the globals as they are now; with jit, the one
        compiled for this specialization, with the globals of its compile (as Numba)."""
        self._spec = spec
        if self.jit:
            compiled = self._jitted.get(id(spec))
            if compiled is None:
                compiled = _jit_compile(self._current(), spec.kinds, spec.wrt, self.cache,
                                        spec.trees, self.has_aux)
                self._jitted[id(spec)] = compiled
            return compiled
        return self._current().compile(spec.kinds, spec.wrt, spec.trees, self.has_aux)

    def _result_tree(self, compiled, spec: _Spec):
        fn_ir = compiled.ir
        if fn_ir is None:                    # loaded from the disk cache: lower only
            t = self.transformed
            fn_ir = t.lower(*t.lowering_kinds(spec.kinds, spec.trees), self.has_aux)
            compiled.ir = fn_ir
        return fn_ir.result_tree

    def _seed(self, compiled, spec: _Spec):
        """1.0 for the value; with has_aux a placeholder for each aux leaf (never read)."""
        if not self.has_aux:
            return 1.0
        return (1.0,) + (0.0,) * (self._result_tree(compiled, spec).num_leaves - 1)

    def _loss(self, value):
        if self.has_aux and isinstance(value, (tuple, list)) and len(value) == 2:
            return value[0]
        return value

    def _check_scalar_result(self, compiled, args):
        if not self.has_aux and compiled.ir is not None and isinstance(compiled.ir.result, ir.Seq):
            _scalar_output((), self.transformed.fn, compiled)

    @property
    def source(self) -> str:
        return self._latest().source

    def _latest(self):
        """The specialization of the last call (float arguments if there was none)."""
        if self.jit and self._spec is not None and id(self._spec) in self._jitted:
            return self._jitted[id(self._spec)]          # the code compiled, as compiled
        t = self._current()
        spec = self._spec or _Spec(tuple(_FLOAT64 for _ in t.param_names), None, self.wrt)
        return t.compile(spec.kinds, spec.wrt, spec.trees, self.has_aux)


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


def _jit_compile(t: Transformed, kinds_key, wrt, cache: bool, trees=None, has_aux=False):
    """The Numba-compiled derivative, from the disk cache when ``cache`` is set.

    A disk entry is looked up by a key covering the globals' values (``cache.key``); a
    missing or damaged one is generated again, and a derivative that cannot be kept on
    disk is compiled in memory.
    """
    key = (kinds_key, wrt, trees, has_aux)
    result = t.jitted.get(key)
    if result is not None:
        return result
    with _LOCK:
        result = t.jitted.get(key)
        if result is None:
            result = t.jitted[key] = _jit_build(t, kinds_key, wrt, cache, trees, has_aux)
    return result


def _jit_build(t: Transformed, kinds_key, wrt, cache: bool, trees, has_aux):
    if not cache:
        return _jit(t.compile(kinds_key, wrt, trees, has_aux, jit=True))
    from srcgrad.backends import cache as disk
    from srcgrad.backends import numba as numba_backend
    specialization = kinds_key if trees is None and not has_aux else (kinds_key, trees, has_aux)
    digest = disk.key(t.fn, specialization, wrt)
    if digest is None:                   # reads a value with no fingerprint: in memory
        return _jit(t.compile(kinds_key, wrt, trees, has_aux, jit=True))
    name = f"{_base_name(t.fn)}_vjp"
    module = disk.load(digest)
    compiled = None
    if module is None or not callable(getattr(module, name, None)):
        compiled = t.compile(kinds_key, wrt, trees, has_aux, jit=True)
        module = disk.store(digest, compiled.source, compiled.namespace, compiled.name)
    if module is None:                   # not importable by name or no cache: in memory
        return _jit(compiled)
    return numba_backend.jitted_cached(getattr(module, name), compiled,
                                       t.parsed.loc(t.parsed.node))


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


def grad(fn=None, wrt=0, *, has_aux: bool = False, jit: bool = False,
         cache: bool | None = None):
    """The gradient of a scalar function w.r.t. the argument(s) ``wrt`` (positions or names).

    A container argument (tuples, lists, dicts nested in any combination) gets a gradient
    of the same structure.  ``has_aux=True``: ``fn`` returns ``(value, aux)``; the result
    is ``(gradient, aux)`` with aux untouched.  ``jit=True`` compiles the derivative with
    Numba (the default for ``@numba.njit`` functions); ``cache=True`` keeps it on disk for
    later processes (the default for ``@numba.njit(cache=True)`` functions).
    """
    def make(f):
        return Derivative(f, wrt, jit=jit, cache=cache, has_aux=has_aux)
    return make if fn is None else make(fn)


def value_and_grad(fn=None, wrt=0, *, has_aux: bool = False, jit: bool = False,
                   cache: bool | None = None):
    """Like ``grad`` but returns ``(value, gradient)``; ``((value, aux), gradient)`` with
    ``has_aux=True``, as JAX does."""
    def make(f):
        return Derivative(f, wrt, with_value=True, jit=jit, cache=cache, has_aux=has_aux)
    return make if fn is None else make(fn)


def vjp(fn, *primals, jit: bool = False):
    """``(out, pullback)`` with ``pullback(cotangent) -> tuple`` of one cotangent per primal.

    The cotangent is shaped like ``out`` (containers included); each returned cotangent is
    shaped like its primal, with ``None`` for leaves that are not floats.  The pullback
    reruns the forward sweep (the generated function keeps both sweeps together).
    """
    t = _transformed(fn)
    primals = _complete(t, primals)
    leaves, trees = _flatten_args(primals)
    kinds = _kinds_key(leaves)
    wrt = tuple(i for i, k in enumerate(kinds) if k[0] in ("float", "array"))
    _check_args(t, primals, (), kinds)
    if jit or _is_numba_dispatcher(fn):
        compiled = _jit_compile(t, kinds, wrt, _numba_caches(fn), _trees_key(trees))
    else:
        compiled = t.compile(kinds, wrt, _trees_key(trees))
    try:
        out = _call(t, primals)
    except SrcgradError:
        raise
    except Exception as exc:
        raise _evaluation_error(t, exc) from exc
    _, out_tree = pytree.flatten(out)

    def pullback(cotangent):
        seed = _cotangent_leaves(cotangent, out, out_tree)
        _, grads = compiled.function(*leaves, seed[0] if out_tree.is_leaf else tuple(seed))
        grad_of = dict(zip(wrt, grads))
        return tuple(pytree.unflatten(tree, [_cast_like(grad_of[j], leaves[j]) if j in grad_of
                                             else None for j in span])
                     for tree, span in zip(trees, _leaf_ranges(trees)))
    return out, pullback


def _cotangent_leaves(cotangent, out, out_tree) -> list:
    """The cotangent's leaves (copies of arrays) in the order of ``out``'s, checked."""
    try:
        cts = pytree.leaves_like(cotangent, out_tree, "the cotangent")
    except ValueError as exc:
        raise SrcgradError(f"{exc}: it must be shaped like the output") from None
    paths = pytree.paths(out_tree, "the cotangent")
    for path, c, o in zip(paths, cts, pytree.flatten(out)[0]):
        if np.shape(c) != np.shape(o):
            raise SrcgradError(f"{path} has shape {np.shape(c)} but the output it stands for "
                               f"has shape {np.shape(o)}")
    return [c.copy() if isinstance(c, np.ndarray) else c for c in cts]


def jvp(fn, primals, tangents, *, jit: bool = False):
    """Forward mode: ``(f(*primals), J @ tangents)``, JAX's convention.

    ``tangents`` has one entry per primal, shaped like it (containers included); entries
    for non-float leaves are ignored.  The tangent program runs beside the primal, with
    no tape.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise SrcgradError(f"jvp got {len(primals)} primals but {len(tangents)} tangents")
    t = _transformed(fn)
    given = len(primals)
    primals = _complete(t, primals)
    for default in primals[given:]:          # parameters left to their defaults: held fixed
        zero_leaves, tree = pytree.flatten(default)
        tangents += (pytree.unflatten(tree, [np.zeros_like(v) if isinstance(v, np.ndarray)
                                             else 0.0 for v in zero_leaves]),)
    leaves, trees = _flatten_args(primals)
    _check_args(t, primals, ())
    kinds = _kinds_key(leaves)
    cast = []
    for name, tree, span, tangent in zip(t.param_names, trees, _leaf_ranges(trees), tangents):
        if not any(kinds[j][0] in ("float", "array") for j in span):
            cast += [0.0] * len(span)          # nothing to differentiate: ignored
            continue
        try:
            tans = pytree.leaves_like(tangent, tree, f"the tangent of '{name}'")
        except ValueError as exc:
            raise SrcgradError(f"{exc}: it must be shaped like the primal") from None
        paths = [name] if tree.is_leaf else pytree.paths(tree, name)
        for path, j, tan in zip(paths, span, tans):
            if kinds[j][0] not in ("float", "array"):
                cast.append(0.0)
                continue
            if np.shape(tan) != np.shape(leaves[j]):
                raise SrcgradError(f"the tangent of '{path}' has shape {np.shape(tan)}, "
                                   f"but the primal has shape {np.shape(leaves[j])}")
            cast.append(_cast_like(tan, leaves[j]))
    jit = jit or _is_numba_dispatcher(fn)
    compiled = t.compile_jvp(kinds, _trees_key(trees), jit=jit)
    tree = compiled.ir.result_tree
    if jit:
        compiled = _jit(compiled)
    try:
        value, tangent = compiled.function(*leaves, *cast)
    except SrcgradError:
        raise
    except Exception as exc:
        _primal_or_located(t, primals, exc)
        raise
    return _rebuild(tree, value), _rebuild(tree, tangent)


def _rebuild(tree, flat):
    """A result in its structure: the generated code returns a container's leaves as a tuple."""
    if tree is None or tree.is_leaf:
        return flat
    if tree.kind == "none":
        return None
    return pytree.unflatten(tree, flat)


def jacobian(fn, wrt=0, *, jit: bool = False):
    """``J(*args)``: the Jacobian of ``fn`` w.r.t. argument ``wrt``, built by rows with vjp.

    Shape ``out.shape + x.shape`` (JAX's ``jacrev``): one pullback per output entry.  For
    a container argument, a container of the same structure holding one such block per leaf.
    """
    def jac(*args):
        position = _normalize_wrt(wrt, _transformed(fn).param_names)[0][0]
        out, pullback = vjp(fn, *args, jit=jit)
        out = _array_output(out, "jacobian")
        xs, tree = pytree.flatten(args[position])
        rows = [np.empty((out.size,) + np.shape(x), dtype=np.result_type(out, x, float))
                for x in xs]
        for k in range(out.size):
            ct = np.zeros(out.shape, dtype=float)
            ct.flat[k] = 1.0
            grads = pytree.flatten(pullback(ct if out.ndim else float(ct))[position])[0]
            for r, g in zip(rows, grads):
                r[k] = g
        return pytree.unflatten(tree, [r.reshape(out.shape + np.shape(x))
                                       for r, x in zip(rows, xs)])
    return jac


def jacfwd(fn, wrt=0, *, jit: bool = False):
    """``J(*args)``: the Jacobian of ``fn`` w.r.t. argument ``wrt``, built by columns with jvp.

    Same shapes as ``jacobian``.
    """
    def jac(*args):
        position = _normalize_wrt(wrt, _transformed(fn).param_names)[0][0]
        zero = [pytree.unflatten(tr, [np.zeros_like(v) if isinstance(v, np.ndarray) else 0.0
                                      for v in pytree.flatten(a)[0]])
                for a, tr in ((a, pytree.flatten(a)[1]) for a in args)]
        xs, tree = pytree.flatten(args[position])
        blocks = []
        for j, x in enumerate(xs):
            x = np.asarray(x, dtype=float)
            columns = []
            for k in range(x.size):
                e = np.zeros(x.shape)
                e.flat[k] = 1.0
                leaves = pytree.flatten(zero[position])[0]
                leaves[j] = e if x.ndim else 1.0
                tangents = list(zero)
                tangents[position] = pytree.unflatten(tree, leaves)
                columns.append(_array_output(jvp(fn, args, tangents, jit=jit)[1], "jacfwd"))
            out_shape = columns[0].shape if columns else ()
            blocks.append(np.stack(columns, axis=-1).reshape(out_shape + x.shape))
        return pytree.unflatten(tree, blocks)
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


def _array_output(out, what):
    if isinstance(out, (tuple, list, dict)):
        raise SrcgradError(f"{what} needs a function returning one array, not a "
                           f"{type(out).__name__}; use vjp or jvp for container outputs")
    return np.asarray(out)


def show(f, stage: str = "source", *, mode: str = "reverse", file=None) -> str:
    """Print (and return) the generated derivative source, or the IR with ``stage="ir"``.

    ``mode="forward"`` shows the tangent (jvp) program of ``f`` instead of its adjoint.
    """
    if mode == "forward" and stage == "source":
        t = _transformed(f.fn if isinstance(f, Derivative) else f)
        spec = getattr(f, "_spec", None)
        kinds = spec.kinds if spec else tuple(_FLOAT64 for _ in t.param_names)
        text = t.compile_jvp(kinds, spec.trees if spec else None).source.rstrip("\n")
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
