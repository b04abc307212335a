"""The public API: grad, value_and_grad, vjp, jvp, jacobian, jacfwd, hessian, hvp, show and
``Derivative``; argument handling at the boundary.

A derivative is compiled once per function, differentiated arguments and argument
*kinds* (float scalar, int, array of a given rank and dtype); later calls with the same
kinds reuse the generated function (``pipeline.py`` runs the passes and keeps that cache).
Container arguments (pytrees) are flattened to their leaves here, at the boundary: the
generated function takes one parameter per leaf, the specialization key holds each
argument's treedef, and gradients, tangents and results are rebuilt in their argument's
or the result's structure.

Generated code has the function's globals resolved, so a transform is reused only while
the globals, closure cells and attributes it read still hold the same objects
(``parse.Bindings``): without jit every call checks that and transforms again after a
change, so a derivative sees globals as Python does when it runs; with jit they are taken
when a specialization is compiled, as Numba does.

Over 500 lines because every entry point's argument checks and result rebuilding live
here, beside the entry point they serve.
"""

from __future__ import annotations

import functools
import inspect
import linecache
from dataclasses import dataclass

import numpy as np

from srcgrad import calls, higher, ir, pipeline, pytree
from srcgrad.errors import EvaluationError, Loc, SrcgradError, WrtError
from srcgrad.pipeline import FLOAT64 as _FLOAT64
from srcgrad.pipeline import Compiled, Transformed, arg_kind  # noqa: F401  (public names)
from srcgrad.pipeline import call_split as _call_split
from srcgrad.pipeline import is_numba_dispatcher as _is_numba_dispatcher
from srcgrad.jitting import jit as _jit
from srcgrad.jitting import jit_compile as _jit_compile
from srcgrad.jitting import numba_caches as _numba_caches
from srcgrad.pipeline import kinds_key as _kinds_key
from srcgrad.pipeline import leaf_ranges as _leaf_ranges
from srcgrad.pipeline import transformed as _transformed

#: every function transformed so far (the fuzzer's oracle frees entries of this dict)
_TRANSFORMED = pipeline._TRANSFORMED


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
            what = "None" if args[i] is None else \
                f"a {type(args[i]).__name__}" if pytree.is_static(args[i]) else \
                f"an empty {type(args[i]).__name__}"
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
    written = [i for i, p in enumerate(compiled.params) if p in pipeline.written(compiled)]
    before = {i: leaves[i].copy() for i in written}
    try:
        out = _call(t, primals)
    except SrcgradError:
        raise
    except Exception as exc:
        raise _evaluation_error(t, exc) from exc
    _, out_tree = pytree.flatten(out)

    def pullback(cotangent):
        seed = _cotangent_leaves(cotangent, out, out_tree)
        # the pullback reruns the function: on copies of the arrays it writes in place as
        # they were before, so each run sees what the primal saw and the caller's arrays
        # are written once
        args = [before[i].copy() if i in before else leaf for i, leaf in enumerate(leaves)]
        _, grads = compiled.function(*args, seed[0] if out_tree.is_leaf else tuple(seed))
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
    if tree.kind in ("none", "static"):
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
        zero = [_zeros_like_tree(a) for a in args]
        xs, tree = pytree.flatten(args[position])
        replay = _replayer(args)
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
                run_args = args if j == k == 0 else replay()
                columns.append(_array_output(jvp(fn, run_args, tangents, jit=jit)[1], "jacfwd"))
            out_shape = columns[0].shape if columns else ()
            blocks.append(np.stack(columns, axis=-1).reshape(out_shape + x.shape))
        return pytree.unflatten(tree, blocks)
    return jac


def _replayer(args):
    """For a derivative that runs the function once per column: a function returning the
    arguments with fresh copies of their integer and boolean arrays as they were before the
    first run, so an array the function writes in place (a permutation) is written once, by
    the first run, as one call of the primal would."""
    def copy_integral(v):
        return v.copy() if isinstance(v, np.ndarray) and v.dtype.kind in "biu" else v

    def replay(saved):
        return tuple(pytree.unflatten(tree, [copy_integral(v) for v in leaves])
                     for leaves, tree in saved)
    saved = [(pytree.flatten(a)[0], pytree.flatten(a)[1]) for a in args]
    saved = [([copy_integral(v) for v in leaves], tree) for leaves, tree in saved]
    return lambda: replay(saved)


def hessian(fn, wrt=0, *, jit: bool = False):
    """``H(*args)``: the Hessian of a scalar ``fn`` w.r.t. argument ``wrt``, shape
    ``x.shape + x.shape``, forward over reverse: ``jacfwd`` of the generated gradient."""
    return Hessian(fn, wrt, jit)


class Hessian:
    """``hessian(f)``.  An object rather than a closure, so that a function calling it can
    itself be differentiated (``higher.hessian_function``)."""

    def __init__(self, fn, wrt, jit):
        self.fn, self.wrt, self.jit = fn, wrt, jit
        self.product = HessianVectorProduct(fn, wrt, jit)
        self.columns = jacfwd(self.product.gradient, wrt, jit=jit)

    def __call__(self, *args):
        return self.columns(*args)


def hvp(fn, wrt=0, *, jit: bool = False):
    """``hvp(f)(*args, v)``: the Hessian-vector product ``H @ v`` without forming ``H``.

    One forward-mode pass over the generated gradient (forward over reverse), so it costs
    a small multiple of one gradient, whatever the size of ``x``.
    """
    return HessianVectorProduct(fn, wrt, jit)


def _zeros_like_tree(value):
    """A zero tangent shaped like ``value`` (containers included)."""
    leaves, tree = pytree.flatten(value)
    return pytree.unflatten(tree, [np.zeros_like(v) if isinstance(v, np.ndarray) else 0.0
                                   for v in leaves])


class HessianVectorProduct:
    """``hvp(f)``: called as ``(*args, v)``.  An object rather than a closure, so that a
    function calling it can itself be differentiated (``higher.hvp_function``)."""

    def __init__(self, fn, wrt, jit):
        self.fn, self.wrt, self.jit = fn, wrt, jit
        self.gradient = grad(fn, wrt, jit=jit)

    def position(self) -> int:
        return _normalize_wrt(self.wrt, _transformed(self.fn).param_names)[0][0]

    def __call__(self, *args):
        if not args:
            raise SrcgradError("hvp(f)(*args, v) needs the arguments of f and a vector v")
        *primals, v = args
        primals = _complete(_transformed(self.fn), primals)
        tangents = [_zeros_like_tree(a) for a in primals]
        tangents[self.position()] = v
        return jvp(self.gradient, primals, tangents, jit=self.jit)[1]


def _array_output(out, what):
    if isinstance(out, (tuple, list, dict)):
        raise SrcgradError(f"{what} needs a function returning one array, not a "
                           f"{type(out).__name__}; use vjp or jvp for container outputs")
    return np.asarray(out)


def show(f, stage: str = "source", *, mode: str = "reverse", file=None) -> str:
    """Print (and return) the generated derivative's source, or any stage of the pipeline.

    ``stage`` names a pass and shows the program after it (for the argument kinds of
    the last call of a ``Derivative``, else float scalars):

    - ``"parse"``: the function as parsed; ``"canonicalize"``: without break, continue
      or early return;
    - ``"lower"``: the IR; ``"prune"``: the IR without what the result does not use;
      ``"ir"``: the IR of the last compiled derivative, as typed;
    - ``"types"``: the IR with the value types loops record (functions with loops; as
      Numba types them for a ``jit=True`` derivative);
      ``"activity"``: the IR and the values that carry derivatives;
    - ``"reverse"`` / ``"forward"``: the generated function before simplification;
      ``"simplify"``: after it;
    - ``"source"`` or ``"emit"`` (the default): the generated source;
    - ``"numba"``: the source Numba compiles (the same text) and its compiled signatures.

    ``mode="forward"`` shows the tangent (jvp) program of ``f`` instead of its adjoint.
    """
    if mode not in ("reverse", "forward"):
        raise ValueError(f"unknown mode {mode!r}; use 'reverse' or 'forward'")
    if stage == "forward":
        mode = "forward"
    if stage != "ir":
        stage = pipeline.stage_name(stage)
    if isinstance(f, Derivative):
        t, target = f.transformed, f
    else:
        t, target = _transformed(f), None
    if stage == "ir":
        fn_ir = t.last.ir if t.last is not None else t.lower({})
        text = ir.format_function(fn_ir)
    elif mode == "forward" and stage == "emit":
        spec = getattr(f, "_spec", None)
        t = _transformed(f.fn if isinstance(f, Derivative) else f)
        kinds = spec.kinds if spec else tuple(_FLOAT64 for _ in t.param_names)
        text = t.compile_jvp(kinds, spec.trees if spec else None).source.rstrip("\n")
    elif stage == "emit":
        text = (target or Derivative(f)).source.rstrip("\n")
    elif stage == "numba":
        text = _numba_text(target or Derivative(f), mode)
    else:
        text = t.dump(stage, _request(target, t, mode))
    print(text, file=file)
    return text


def _request(target, t, mode) -> pipeline.Request:
    """The specialization ``show`` dumps: the last call's, else float scalars."""
    spec = getattr(target, "_spec", None)
    if spec is None:
        kinds = tuple(_FLOAT64 for _ in t.param_names)
        wrt = target.wrt if target is not None else (0,)
        spec = _Spec(kinds, None, wrt)
    has_aux = bool(getattr(target, "has_aux", False))
    return pipeline.Request(spec.kinds, spec.wrt, spec.trees, has_aux, mode,
                            jit=bool(getattr(target, "jit", False)))


def _numba_text(d: Derivative, mode: str) -> str:
    t = d._current()
    request = _request(d, t, mode)
    if mode == "forward":
        compiled = _jit(t.compile_jvp(request.kinds, request.trees, jit=True))
    else:
        compiled = _jit_compile(t, request.kinds, request.wrt, d.cache, request.trees,
                                request.has_aux)
    dispatcher = getattr(compiled.function, "dispatcher", None)
    signatures = [str(s) for s in getattr(dispatcher, "signatures", ())]
    note = ("# numba: compiled for " + "; ".join(signatures) if signatures
            else "# numba: njit dispatcher ready (compiles on its first call)")
    return compiled.source.rstrip("\n") + "\n" + note


pipeline.register_transform(Derivative, higher.DerivativeTransformed)
calls.at_transform_time(grad, value_and_grad, hvp, hessian)
pipeline.register_function_of(HessianVectorProduct, higher.hvp_function)
pipeline.register_function_of(Hessian, higher.hessian_function)
calls.restated_calls(jvp, higher.jvp_function)
calls.pullbacks(vjp, higher.pullback_function)
