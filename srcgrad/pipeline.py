"""The pipeline: the named passes from a function's source to its compiled derivative.

```
parse         Transformed.__init__: the callable's source function, bound values, gast tree
canonicalize  jumps → flags
lower         gast → IR
prune         drop statements and loop values the result does not use
types         loops only: value types from the IR (transforms/kinds.py) → typemap,
              refined kinds; with jit, Numba's typing of the forward sweep wins
activity      which IR values carry derivatives
reverse       IR → ast of f_vjp (forward sweep + tape + adjoint)   | forward: f_jvp
simplify      ast → ast
emit          ast → source text → Python function
numba         jit only: numba.njit of that function (jitting.py, backends/), or the disk cache
```

``run`` executes them in that order for one ``Request`` (argument kinds, differentiated
positions, mode), checks the IR with ``ir.check`` after every pass that produces or
changes IR (a few hundredths of lowering's time), and can stop after any pass:
``dump`` renders that stage (``srcgrad.show(f, stage=...)``).  An exception inside a
pass that is not a ``SrcgradError`` is a srcgrad bug: it is re-raised as an
``InternalError`` saying "during <pass>", the original chained as ``__cause__``;
``SrcgradError``s (refusals at the user's line) pass through unchanged.

A function is parsed once (``Transformed``); the other passes run once per argument
kinds, differentiated positions, container structure and ``has_aux``, cached on the
``Transformed``.  Building is serialized by one re-entrant lock (``LOCK``), taken before
Numba's compiler lock (``infer_types`` types under it), never inside it.

What a callable is (bound methods, partials, Numba dispatchers, watched attributes) is
``callables.py``; this module keeps the per-function cache and the jit paths.
"""

from __future__ import annotations

import ast
import inspect
import threading
from dataclasses import dataclass, field

import gast
import numpy as np

from srcgrad import calls, ir
from srcgrad.arguments import (FLOAT64, arg_kind, base_name, differentiable,  # noqa: F401
                               kinds_key, leaf_ranges)
from srcgrad.callables import (ABSENT, attribute_paths, call_split, is_numba_dispatcher,  # noqa: F401
                               refuse_variadic, same_value, signature_of, snapshot, unbind)
from srcgrad.errors import InternalError, SrcgradError
from srcgrad.transforms import activity, emit, forward, infer_types, parse, reverse, simplify
from srcgrad.transforms import kinds as kinds_pass
from srcgrad.transforms.canonicalize import canonicalize
from srcgrad.transforms.lower import lower
from srcgrad.transforms.prune import prune

#: Serializes building transforms and derivatives (not calling them).  Taken before
#: Numba's compiler lock (type inference, compiles), never inside it.
LOCK = threading.RLock()


# --------------------------------------------------------------------------- passes
#: Every pass name, in order; ``reverse`` and ``forward`` are alternatives (the mode).
PASSES = ("parse", "canonicalize", "lower", "prune", "types", "activity", "reverse", "forward",
          "simplify", "emit", "numba")
#: Another name ``dump`` accepts: the source is what ``emit`` gives.
ALIASES = {"source": "emit"}


def run_pass(name: str, step, *args, loc=None):
    """``step(*args)`` as pass ``name``: an exception that is not a SrcgradError becomes an
    InternalError saying which pass raised it."""
    try:
        return step(*args)
    except SrcgradError:
        raise
    except Exception as exc:
        raise InternalError(f"internal error during {name}: {type(exc).__name__}: {exc}. "
                            f"This is a bug in srcgrad; please report it (srcgrad.show(f, "
                            f"stage=...) prints every stage)", loc, name) from exc


def _check(name: str, fn_ir) -> None:
    """``ir.check`` after pass ``name`` (its IRCheckError says which pass produced the IR)."""
    try:
        ir.check(fn_ir)
    except ir.IRCheckError as exc:
        raise ir.IRCheckError(f"after {name}: {exc.message}", exc.loc, exc.construct) from exc


@dataclass(frozen=True)
class Request:
    """What to build: per-leaf kinds, differentiated leaf positions (reverse mode), each
    argument's treedef (None when all are leaves), has_aux, and the mode."""

    kinds: tuple
    wrt: tuple = ()
    trees: tuple | None = None
    has_aux: bool = False
    mode: str = "reverse"
    jit: bool = False         # typed as Numba will compile it (Numba's typing wins)


@dataclass
class State:
    """What the passes have produced so far for one request."""

    transformed: object
    request: Request
    canonical: object = None          # the gast tree without jumps
    fn_ir: ir.Function | None = None
    typemap: dict = field(default_factory=dict)
    wrt_names: list = field(default_factory=list)
    active: set = field(default_factory=set)
    name: str = ""
    tree: ast.FunctionDef | None = None
    namespace: dict = field(default_factory=dict)
    locations: dict = field(default_factory=dict)
    source: str = ""
    function: object = None


def _canonicalize(s: State) -> None:
    s.canonical = canonicalize(s.transformed.parsed)


def _lower(s: State) -> None:
    t, r = s.transformed, s.request
    s.fn_ir = lower(t.parsed, *t.lowering_kinds(r.kinds, r.trees), r.has_aux,
                    canonical=s.canonical, then_prune=False, writable=t.scratch(r))


def _prune(s: State) -> None:
    s.fn_ir = prune(s.fn_ir)


def _types(s: State) -> None:
    """Types for the values loops record; Numba's typing only when compiling with Numba
    (plain Python never imports it, and its text does not depend on it)."""
    if not kinds_pass.needs_types(s.fn_ir):
        return
    s.typemap = kinds_pass.infer(s.fn_ir, s.request.kinds)
    if s.request.jit:
        probe, namespace = reverse.build_forward(s.fn_ir, base_name(s.transformed.fn))
        s.typemap.update(infer_types.numba_types(probe, namespace, s.request.kinds))
        s.typemap = {n: t for n, t in s.typemap.items() if t is not None}
    kinds_pass.refine_kinds(s.fn_ir, s.typemap)


def _activity(s: State) -> None:
    params, r = s.fn_ir.params, s.request
    if r.mode == "forward":
        s.wrt_names = [p for p, k in zip(params, r.kinds) if differentiable(k)]
    else:
        s.wrt_names = [params[i] for i in r.wrt]
    s.active = activity.analyse(s.fn_ir, s.wrt_names)


def _reverse(s: State) -> None:
    s.name = f"{base_name(s.transformed.fn)}_vjp"
    s.tree, s.namespace, s.locations = reverse.build_vjp(s.fn_ir, s.active, s.wrt_names,
                                                         s.name, s.typemap)


def _forward(s: State) -> None:
    s.name = f"{base_name(s.transformed.fn)}_jvp"
    s.tree, s.namespace = forward.build_jvp(s.fn_ir, s.active, s.name, s.typemap)


def _simplify(s: State) -> None:
    s.tree = simplify.simplify(s.tree)


def _emit(s: State) -> None:
    s.source = emit.unparse(emit.module([s.tree])) + "\n"
    s.function = emit.compile_source(s.source, s.namespace, s.name, s.transformed.fn.__name__)


_STEPS = {"canonicalize": _canonicalize, "lower": _lower, "prune": _prune, "types": _types,
          "activity": _activity, "reverse": _reverse, "forward": _forward,
          "simplify": _simplify, "emit": _emit}
_CHANGES_IR = {"lower", "prune", "types"}


def order(mode: str) -> tuple[str, ...]:
    """The passes ``run`` executes for a mode (parse ran when the function was read)."""
    skip = "forward" if mode == "reverse" else "reverse"
    return tuple(p for p in _STEPS if p != skip)


def run(t, request: Request, stop: str | None = None) -> State:
    """The passes for ``request`` on transformed function ``t``, in order, through ``stop``."""
    state = State(t, request)
    loc = t.parsed.loc(t.parsed.node)
    for name in order(request.mode):
        run_pass(name, _STEPS[name], state, loc=loc)
        if name in _CHANGES_IR:
            _check(name, state.fn_ir)
        if name == stop:
            break
    return state


def build(t, request: Request) -> "Compiled":
    state = run(t, request)
    return Compiled(state.fn_ir, state.source, state.function, state.fn_ir.params,
                    state.namespace, state.name, state.locations)


# --------------------------------------------------------------------------- dumps
def _gast_source(node) -> str:
    module = gast.gast_to_ast(gast.Module(body=[node], type_ignores=[]))
    return ast.unparse(ast.fix_missing_locations(module))


def _types_text(s: State) -> str:
    lines = [ir.format_function(s.fn_ir)]
    if not s.typemap:
        lines.append("# types: none needed (no loops): lowering's kinds")
    for name in sorted(s.typemap):
        lines.append(f"# {name}: {s.typemap[name]}")
    return "\n".join(lines)


_DUMPS = {
    "canonicalize": lambda s: _gast_source(s.canonical),
    "lower": lambda s: ir.format_function(s.fn_ir),
    "prune": lambda s: ir.format_function(s.fn_ir),
    "types": _types_text,
    "activity": lambda s: ir.format_function(s.fn_ir) + "\n# active: "
    + (", ".join(sorted(s.active)) or "(none)"),
    "reverse": lambda s: emit.unparse(emit.module([s.tree])),
    "forward": lambda s: emit.unparse(emit.module([s.tree])),
    "simplify": lambda s: emit.unparse(emit.module([s.tree])),
    "emit": lambda s: s.source.rstrip("\n"),
}


def stage_name(stage: str) -> str:
    """The pass a ``show`` stage names (ValueError for an unknown one)."""
    name = ALIASES.get(stage, stage)
    if name not in PASSES:
        raise ValueError(f"unknown stage {stage!r}; use one of {', '.join(PASSES)} "
                         f"(or 'ir', 'source')")
    return name


def dump(t, stage: str, request: Request) -> str:
    """The text of the program after pass ``stage`` (not ``numba``: see ``api.show``)."""
    stage = stage_name(stage)
    if stage == "parse":
        return _gast_source(t.parsed.node)
    if stage in ("reverse", "forward") and request.mode != stage:
        raise ValueError(f"stage {stage!r} needs mode={stage!r}")
    return _DUMPS[stage](run(t, request, stop=stage))


# --------------------------------------------------------------------------- per function
def written(compiled) -> list[str]:
    """The parameters a compiled derivative (in Python or Numba) writes in place: integer
    or boolean work arrays, scratch arrays outside ``wrt``."""
    return [p for p in compiled.params if p in compiled.ir.buffer_group]


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
        target, bound = unbind(fn)
        if is_numba_dispatcher(target):
            target = target.py_func
        if not inspect.isfunction(target):
            raise SrcgradError(
                f"cannot differentiate {fn!r}: not a Python function with source; "
                f"register a rule with srcgrad.defvjp", construct=repr(fn))
        self.fn = target
        self.parsed = run_pass("parse", parse.parse_function, target, bound)
        self.bound = bound
        self.signature = signature_of(fn, target)
        refuse_variadic(self.parsed, target, fn)
        code = target.__code__
        order = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        self.param_names = [p for p in order if p not in bound]
        self.keyword_only = {p for p, v in self.signature.parameters.items()
                             if v.kind is v.KEYWORD_ONLY}
        self.cache: dict = {}
        self.jitted: dict = {}
        self.last = None
        self.watched = [(n, ()) for n, v in bound.items() if isinstance(v, np.ndarray)]
        self.watched += attribute_paths(self.parsed.node, bound)
        self.snapshot = self._read_watched()

    def _read_watched(self) -> list:
        """The current value of every ``self.a.b`` the function reads, and of bound
        arrays (arrays copied)."""
        out = []
        for name, path in self.watched:
            value = self.bound[name]
            if not path:
                out.append(snapshot(value))
            for attr in path:
                value = getattr(value, attr, ABSENT)
                out.append(snapshot(value))
                if value is ABSENT:
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
        if any(not same_value(a, b) for a, b in zip(current, self.snapshot)):
            self.snapshot = current
            self.cache.clear()
            self.jitted.clear()
            self.last = None
            return True
        return False

    def call(self, args):
        """Run the user's callable on completed arguments (one per parameter), as Python
        would: keyword-only parameters by keyword."""
        return call_split(self.callable, self.param_names, self.keyword_only, args)

    def is_current(self) -> bool:
        """Whether the globals (and cells, attributes) the transform read are unchanged."""
        return self.parsed.bindings.current()

    def lower(self, kinds: dict, trees=None, has_aux=False) -> ir.Function:
        """The lowered IR for lowering's kinds (parameter -> (kind, ndim)), checked."""
        fn_ir = run_pass("lower", lower, self.parsed, kinds, trees, has_aux,
                         loc=self.parsed.loc(self.parsed.node))
        _check("lower", fn_ir)
        return fn_ir

    def lowering_kinds(self, kinds_key: tuple, trees=None) -> tuple[dict, dict]:
        """(parameter -> (kind, ndim)) for leaf arguments and (parameter -> (treedef, leaf
        kinds)) for container arguments, from the per-leaf kinds of a specialization key."""
        if trees is None:
            return {p: k[:2] for p, k in zip(self.param_names, kinds_key)}, {}
        kinds, structures = {}, {}
        for name, tree, span in zip(self.param_names, trees, leaf_ranges(trees)):
            leaf_kinds = [kinds_key[i][:2] for i in span]
            if tree.is_leaf:
                kinds[name] = leaf_kinds[0]
            else:
                structures[name] = (tree, leaf_kinds)
        return kinds, structures

    def scratch(self, request) -> set[str]:
        """Float array parameters a reverse-mode derivative does not differentiate: the
        function may write them in place (scratch or output arrays), as its primal does."""
        if request.mode != "reverse" or not request.wrt:
            return set()
        trees = request.trees or [None] * len(self.param_names)
        spans = leaf_ranges(request.trees) if request.trees else \
            [range(i, i + 1) for i in range(len(self.param_names))]
        return {name for name, tree, span in zip(self.param_names, trees, spans)
                if (tree is None or tree.is_leaf) and span[0] not in request.wrt and
                request.kinds[span[0]][0] == "array"}

    def typed_ir(self, kinds_key: tuple, trees=None, has_aux=False, jit=False):
        """The IR for these argument kinds, with the value types loops need (see
        transforms/kinds.py; Numba's with ``jit``); returns (ir, typemap)."""
        state = run(self, Request(kinds_key, (), trees, has_aux, jit=jit), stop="types")
        return state.fn_ir, state.typemap

    def compile_jvp(self, kinds_key: tuple, trees=None, jit=False) -> Compiled:
        """The forward-mode (tangent) program for these argument kinds (typed for Numba
        with ``jit``)."""
        key = ("jvp", kinds_key, trees, jit)
        if key in self.cache:
            return self.cache[key]
        with LOCK:
            if key not in self.cache:
                self.cache[key] = build(self, Request(kinds_key, (), trees, mode="forward", jit=jit))
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
            with LOCK:
                compiled = self.cache.get(key)
                if compiled is None:
                    compiled = self.cache[key] = build(
                        self, Request(kinds_key, wrt, trees, has_aux, jit=jit))
        self.last = compiled
        return compiled

    def dump(self, stage: str, request: Request) -> str:
        with LOCK:
            return dump(self, stage, request)


# --------------------------------------------------------------------------- the cache
_TRANSFORMED: dict = {}
#: type -> factory of the object standing for a callable of that type (``api`` registers
#: ``Derivative`` -> ``higher.DerivativeTransformed``): a derivative of a derivative.
_FACTORIES: dict = {}


def register_transform(cls, factory) -> None:
    """Callables of type ``cls`` are transformed by ``factory(fn)`` instead of Transformed."""
    _FACTORIES[cls] = factory


def transformed(fn):
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
        with LOCK:
            entry = _TRANSFORMED.get(key)
            if not reusable(entry):
                entry = (fn, _FACTORIES.get(type(fn), Transformed)(fn))
                _TRANSFORMED[key] = entry
                return entry[1]
    if hasattr(entry[1], "refresh"):
        entry[1].refresh()
    return entry[1]


#: type -> ``(obj, kinds) -> plain function``, for derivative objects that are not
#: transformed themselves (``hvp(f)``; registered by ``api``).
_FUNCTIONS: dict = {}


def register_function_of(cls, function_of) -> None:
    _FUNCTIONS[cls] = function_of


def _derivative_function(obj, kinds):
    """What a derivative object called inside differentiated code computes for these
    argument kinds, as a plain function with source (``higher.restate``), or None."""
    if type(obj) in _FUNCTIONS:
        return _FUNCTIONS[type(obj)](obj, kinds)
    if type(obj) not in _FACTORIES:
        return None
    return transformed(obj).specialization(kinds).fn


def _callee_adjoint(fn, args):
    """(differentiated positions, compiled adjoint) of a callee for these arguments."""
    kinds = kinds_key(args)
    wrt = tuple(i for i, k in enumerate(kinds) if differentiable(k))
    compiled = transformed(fn).compile(kinds, wrt) if wrt else None
    if compiled is not None and written(compiled):
        # its adjoint would run it a second time, on arrays its first run already changed
        raise SrcgradError(f"'{fn.__name__}' calls itself and writes into its argument "
                           f"'{written(compiled)[0]}' in place, which a derivative cannot replay; "
                           f"pass it a copy, or write the recursion as a loop")
    return wrt, compiled


calls.use_pipeline(_callee_adjoint)
calls.use_derivatives(lambda obj: type(obj) in _FACTORIES or type(obj) in _FUNCTIONS,
                      _derivative_function)
