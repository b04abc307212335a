"""A Hypothesis strategy that writes small random Python/NumPy programs as source text.

``programs(features)`` draws a whole module: a few float globals, zero or more helper
functions and the function ``f`` under test, plus the arguments to call it with.  Every
decision is a Hypothesis draw, so a failing program shrinks to a minimal one: statements
disappear, expressions shrink to constants and variables, loops to ``range(1)``.

The grammar is one small method per construct (``stmt_if``, ``stmt_for_enumerate``,
``expr_scalar_unary`` ...).  Each construct is guarded by a flag in ``FEATURES``; a
caller passes a set of flags to switch off (``programs(off={"while", "helpers"})``).
Every program records the flags it actually used (``Program.features``).

Programs are correct Python by construction: they always run, return a float, never
index out of range, never divide by ~0 (denominators are ``1 + b*b`` or ``1.5 + cos b``),
take ``exp`` only of bounded arguments and ``log``/``sqrt`` only of ``1 + b*b``, and never
write into memory that may belong to an argument.  Variables have a static type:

    f  float scalar          v  1-D float64 array of shape (3,)
    m  2-D float64 array (2, 3)                i  int (loop index, counter, int argument)

and arrays an ownership level (``PARAM`` < ``FRESH`` < ``OWNED``):

    PARAM  may share memory with an argument (the argument itself, a view, a row): read only
    FRESH  a new array from arithmetic (``x * 2.0``): augmented assignment is in place on it
    OWNED  made by a constructor (``np.zeros``, ``.copy()``, ``np.array``): element and
           slice stores too (srcgrad accepts stores only into these)

A variable keeps its level for life; it may be rebound only to values at least as owned,
so no path through branches or loop iterations can ever write into an argument.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

# --------------------------------------------------------------------------- feature flags
#: Every construct of the grammar, on by default.  Switch some off with ``off=``.
FEATURES: dict[str, bool] = {
    # parameters of f
    "param_scalar": True,       # a float argument
    "param_vector": True,       # a (3,) array argument
    "param_matrix": True,       # a (2, 3) array argument
    "param_int": True,          # an int argument n in 0..3 (range(n), if n > 1)
    "two_params": True,         # f takes two arguments (else one)
    # expressions
    "arith": True,              # + - * and unary minus
    "div": True,                # a / (1.0 + b * b), a / (1.5 + np.cos(b))
    "pow": True,                # a ** 2, a ** 3
    "trig": True,               # np.sin np.cos np.tanh
    "exp_log_sqrt": True,       # np.exp(np.sin(a)), np.exp(-a ** 2), np.log(1 + a*a), np.sqrt(1 + a*a)
    "reduce": True,             # np.sum, np.mean of arrays
    "library": True,            # smooth library functions: np.arctan, np.logaddexp,
                                # special.expit, math.erf, np.cumsum, np.roll, np.cross (results
                                # are new arrays: np.flip, a view, is left out),
                                # special.logsumexp, np.linalg.det/solve/slogdet of M M^T + I,
                                # np.sinc, np.pad, np.interp, np.split, np.average
    "dot": True,                # np.dot(v, w), v @ w
    "matrix_ops": True,         # M @ v, np.sum(M, axis=0), M * v (broadcast), M[k]
    "index_read": True,         # u[k], u[i], M[a, b]
    "slice_read": True,         # u[1:], u[:2], u[::2] inside reductions, u[::-1]
    "globals": True,            # module-level float constants read by the code
    "int_as_float": True,       # loop indices in float arithmetic: 0.25 * i
    # statements
    "augassign": True,          # s += e, s -= e, s *= bounded
    "augassign_array": True,    # u += e, u -= e, u *= e (in place)
    "tuple_assign": True,       # a, b = b, a * 0.5 ; p, q = e1, e2
    "if": True,
    "elif": True,
    "else": True,
    "bool_ops": True,           # and / or / not in conditions
    "for_range": True,          # for i in range(K), K constant
    "for_range_arg": True,      # for i in range(n), n an int argument
    "for_range_len": True,      # for i in range(len(x)), range(1, len(x))
    "for_array": True,          # for e in v, for row in M
    "enumerate": True,          # for i, e in enumerate(v)
    "zip": True,                # for a, b in zip(v, w)
    "while": True,              # k = 0; while k < K (and cond): k += 1; ...
    "break": True,
    "continue": True,
    "return_early": True,       # return from inside branches and loops
    "deep_jumps": True,         # break/continue two or more ifs below their loop, return
                                # two or more blocks below the function (an elif body counts
                                # as two: it is an if inside an else); off: only shallower
    "owned_arrays": True,       # u = np.zeros(3), x.copy(), np.ones, zeros_like, (expr).copy()
    "array_literal": True,      # np.array([a, b, c]) of scalars (an owned array)
    "copy": True,               # owned arrays by u.copy(), np.copy(W), (expr).copy()
    "store_index": True,        # u[k] = e, u[i] += e, W[a, b] = e, W[k] = v
    "store_slice": True,        # u[1:] = e, u[:2] += e, u[:] = e
    "alias": True,              # b = u (a second name for the same array)
    "views": True,              # r = u[::-1], r = M[0] bound to names (read only)
    "helpers": True,            # calls to functions defined in the same module
    "helper_tuple": True,       # helpers returning a tuple of two scalars
    "helper_arrays": True,      # helpers taking an array argument
    "helper_control": True,     # helpers with branches, loops and early returns
    "int_work_arrays": True,    # p = np.arange(3) permuted in place and read as indices
                                # (u[p[k]]); c = np.zeros(3, dtype=int) given floats
                                # (truncated: no derivative) and read as 0.5 * c[k]
}

#: How often a statement is drawn relative to the others (1 when not listed): constructs
#: that need a set-up (a store needs an owned array) would otherwise be rare.
WEIGHTS = {"store_index": 4, "store_slice": 3, "augassign_array": 3, "augassign": 2,
           "owned_arrays": 2, "if": 3, "for_range": 2, "for_range_arg": 3}

MAX_DEPTH = 3                   # nesting of if / for / while


def features_with(off=(), on=None) -> dict[str, bool]:
    """FEATURES with the flags in ``off`` switched off (or only ``on`` switched on)."""
    unknown = (set(off) | set(on or ())) - set(FEATURES)
    if unknown:
        raise KeyError(f"unknown grammar feature(s): {sorted(unknown)}")
    if on is not None:
        return {k: (k in on) for k in FEATURES}
    return {k: (v and k not in off) for k, v in FEATURES.items()}


# --------------------------------------------------------------------------- values
PARAM, FRESH, OWNED = 0, 1, 2
SHAPES = {"f": (), "v": (3,), "m": (2, 3)}
LENGTH = {"v": 3, "m": 2}       # len() and the range of a first index
CONSTS = ("0.5", "1.5", "-0.75", "2.0", "0.25", "-1.25", "3.0")
COND_CONSTS = ("0.0", "0.5", "-0.5", "1.0", "-1.0", "0.25", "2.0")
_SIMPLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(\[[^\[\]()]*\])?|[0-9.]+)$")


def grid_value(k: int) -> float:
    """Argument entries come from a grid offset from every constant the grammar compares
    with, so shrinking (towards k = 0) never lands on a tie."""
    return round((k + 0.31) / 5.0, 6)


@dataclass
class Var:
    name: str
    type: str                   # 'f' 'v' 'm' 'i', 'p' 'c' (integer work arrays)
    own: int = PARAM            # arrays only
    bound: int | None = None    # ints: exclusive upper bound when known (safe as an index)


@dataclass
class Program:
    """A generated module: its source, the function to differentiate and its arguments."""

    source: str
    params: list[tuple[str, str]]                # (name, type) of f's parameters
    arg_values: list                             # float / nested lists / int
    features: frozenset = field(default_factory=frozenset)
    fname: str = "f"

    def args(self) -> list:
        """Fresh argument objects (arrays are new float64 arrays each call)."""
        out = []
        for (_, t), v in zip(self.params, self.arg_values):
            out.append(np.array(v, dtype=np.float64) if t in ("v", "m") else v)
        return out

    @property
    def wrt(self) -> tuple[int, ...]:
        return tuple(i for i, (_, t) in enumerate(self.params) if t != "i")

    @property
    def digest(self) -> str:
        return hashlib.sha1((self.source + repr(self.arg_values)).encode()).hexdigest()[:12]

    def call_text(self) -> str:
        def show(t, v):
            return f"np.array({v!r})" if t in ("v", "m") else repr(v)
        return f"{self.fname}(" + ", ".join(show(t, v) for (_, t), v in zip(self.params, self.arg_values)) + ")"

    def __repr__(self) -> str:      # what Hypothesis prints for a falsifying example
        return f"Program(\n{self.source}\n# args: {self.call_text()}\n)"


# --------------------------------------------------------------------------- the builder
@st.composite
def _SPAN(draw, inner):
    return inner(draw)



class Scope:
    """The variables visible at a point: an ordered name -> Var map, copied per block."""

    def __init__(self, vars_=None):
        self.vars: dict[str, Var] = dict(vars_ or {})

    def child(self) -> "Scope":
        return Scope(self.vars)

    def of(self, t: str, min_own: int = PARAM) -> list[Var]:
        return [v for v in self.vars.values() if v.type == t and (t in "fi" or v.own >= min_own)]

    def add(self, var: Var):
        self.vars[var.name] = var


@dataclass
class Ctx:
    """Where a statement is being generated."""

    depth: int = 0
    in_loop: bool = False
    returns: tuple = ("f",)     # the shape of this function's result: ('f',) or ('f', 'f')
    in_helper: bool = False
    ifs_in_loop: int = 0        # if-levels between here and the innermost loop


class Builder:
    def __init__(self, draw, features: dict[str, bool]):
        self.draw = draw
        self.on = features
        self.used: set[str] = set()
        self.counters: dict[str, int] = {}
        self.globals: list[tuple[str, str]] = []        # (name, value text)
        self.helpers: list[tuple[str, list[str], tuple, list[str]]] = []  # name, param types, returns, lines

    # ----------------------------------------------------------------- drawing helpers
    def feat(self, name: str) -> bool:
        return self.on[name]

    def use(self, *names: str):
        self.used.update(names)

    def pick(self, options):
        options = list(options)       # by index: sampled_from made runs depend on the hash seed
        return options[0] if len(options) == 1 else options[self.draw(st.integers(0, len(options) - 1))]

    def span(self, fn):
        """``fn()`` drawn as one nested strategy: Hypothesis then sees its draws as one
        span, which its shrinker can delete or replace whole (a statement, an expression)."""
        outer = self.draw

        def inner(draw):
            self.draw = draw
            try:
                return fn()
            finally:
                self.draw = outer
        return outer(_SPAN(inner))

    def coin(self) -> bool:
        return self.draw(st.booleans())

    def int_in(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def fresh(self, prefix: str) -> str:
        n = self.counters.get(prefix, 0)
        self.counters[prefix] = n + 1
        return f"{prefix}{n}"

    def pick_option(self, options):
        """Call one of ``(feature or None, function)`` pairs whose feature is on.

        The first option is the simplest: it is where shrinking goes."""
        live = [(feat, fn) for feat, fn in options if feat is None or self.on[feat]]
        weighted = [opt for opt in live for _ in range(WEIGHTS.get(opt[0], 1))]
        feat, fn = self.pick(weighted)
        if feat is not None:
            self.use(feat)
        return fn()

    # ----------------------------------------------------------------- atoms
    def const(self) -> str:
        return self.pick(CONSTS)

    def global_name(self) -> str:
        if self.globals and (len(self.globals) >= 3 or not self.coin()):
            return self.pick([n for n, _ in self.globals])
        name = f"G{len(self.globals)}"
        self.globals.append((name, self.pick(("0.75", "-0.5", "1.25", "0.3"))))
        return name

    def index(self, scope: Scope, t: str) -> str:
        """An index safe for the first axis of an array of type t."""
        length = LENGTH[t]
        ivars = [v.name for v in scope.of("i") if v.bound is not None and v.bound <= length]
        consts = [str(k) for k in range(length)] + ["-1"]
        if ivars and self.coin():
            return self.pick(ivars)
        return self.pick(consts)

    # ----------------------------------------------------------------- scalar expressions
    def scalar(self, scope: Scope, depth: int = 2) -> str:
        return self.span(lambda: self._scalar(scope, depth))

    def _scalar(self, scope: Scope, depth: int) -> str:
        atoms = [(None, self.const)]
        if scope.of("f"):
            atoms.append((None, lambda: self.pick(v.name for v in scope.of("f"))))
        if self.feat("globals"):
            atoms.append(("globals", self.global_name))
        ints = [v.name for v in scope.of("i")]
        if ints:
            atoms.append(("int_as_float", lambda: f"{self.pick(('0.25', '0.5', '-0.3'))} * {self.pick(ints)}"))
        if scope.of("v") or scope.of("m"):
            atoms.append(("index_read", lambda: self.scalar_index(scope)))
            atoms.append(("reduce", lambda: self.scalar_reduce(scope, 0)))
        if scope.of("c"):
            atoms.append(("int_work_arrays", lambda: f"0.5 * {self.pick(v.name for v in scope.of('c'))}"
                                                     f"[{self.index(scope, 'v')}]"))
        if depth <= 0:
            return self.pick_option(atoms)
        compound = [
            ("arith", lambda: self.scalar_arith(scope, depth)),
            ("div", lambda: self.scalar_div(scope, depth)),
            ("pow", lambda: f"{self.paren(self.scalar(scope, depth - 1))} ** {self.pick(('2', '3'))}"),
            ("trig", lambda: f"np.{self.pick(('sin', 'cos', 'tanh'))}({self.scalar(scope, depth - 1)})"),
            ("exp_log_sqrt", lambda: self.bounded_call(self.scalar(scope, depth - 1))),
            ("reduce", lambda: self.scalar_reduce(scope, depth - 1)),
            ("library", lambda: self.library_scalar(scope, depth - 1)),
        ]
        if self.feat("dot"):
            compound.append(("dot", lambda: self.scalar_dot(scope, depth - 1)))
        if self.feat("helpers") and not self.ctx_in_helper:
            compound.append(("helpers", lambda: self.helper_call_expr(scope, "f")))
        if self.coin():                 # False (the shrink direction) keeps it an atom
            return self.pick_option(compound)
        return self.pick_option(atoms)

    ctx_in_helper = False

    @staticmethod
    def paren(text: str) -> str:
        """``text`` as an operand: names, numbers and simple index reads stay bare."""
        return text if _SIMPLE.match(text) else f"({text})"

    def scalar_arith(self, scope, depth) -> str:
        op = self.pick(("+", "-", "*", "neg"))
        a = self.scalar(scope, depth - 1)
        if op == "neg":
            return f"-{self.paren(a)}"
        return f"{self.paren(a)} {op} {self.paren(self.scalar(scope, depth - 1))}"

    def scalar_div(self, scope, depth) -> str:
        a, b = self.scalar(scope, depth - 1), self.scalar(scope, depth - 1)
        if self.coin():
            return f"{self.paren(a)} / (1.5 + np.cos({b}))"
        return f"{self.paren(a)} / (1.0 + {self.paren(b)} * {self.paren(b)})"

    def bounded_call(self, a: str) -> str:
        form = self.pick(("exp_sin", "exp_sq", "log", "sqrt", "exp_tanh"))
        return {
            "exp_sin": f"np.exp(np.sin({a}))",
            "exp_sq": f"np.exp(-{self.paren(a)} ** 2)",
            "log": f"np.log(1.0 + {self.paren(a)} * {self.paren(a)})",
            "sqrt": f"np.sqrt(1.0 + {self.paren(a)} ** 2)",
            "exp_tanh": f"np.exp(0.5 * np.tanh({a}))",
        }[form]

    def library_scalar(self, scope: Scope, depth: int) -> str:
        """A scalar through a smooth library function (bounded, away from kinks)."""
        a = self.scalar(scope, depth)
        forms = ["arctan", "log1p", "logaddexp", "hypot", "expit", "erf", "gammaln",
                 "arcsinh", "logsumexp", "var", "cumsum", "diff", "average"]
        if scope.of("m"):
            forms += ["det", "slogdet", "trace_inv"]
        form = self.pick(forms)
        if form in ("logsumexp", "var", "cumsum", "diff", "average"):
            v = self.vector(scope, depth)
            return {"logsumexp": f"special.logsumexp({v})", "var": f"np.var({v})",
                    "average": f"np.average({v}, weights=np.arange(1.0, 4.0))",
                    "cumsum": f"np.dot(np.cumsum({v}), WV)",
                    "diff": f"np.sum(np.diff({v}) ** 2)"}[form]
        if form in ("det", "slogdet", "trace_inv"):
            m = self.matrix(scope, depth)
            gram = f"{self.paren(m)} @ {self.paren(m)}.T + np.eye(2)"
            return {"det": f"np.linalg.det({gram})", "slogdet": f"np.linalg.slogdet({gram})[1]",
                    "trace_inv": f"np.trace(np.linalg.inv({gram}))"}[form]
        b = self.scalar(scope, depth) if form == "logaddexp" else None
        return {"arctan": f"np.arctan({a})", "log1p": f"np.log1p({self.paren(a)} ** 2)",
                "logaddexp": f"np.logaddexp({a}, {b})", "hypot": f"np.hypot({a}, 1.0)",
                "expit": f"special.expit({a})", "erf": f"math.erf({a})",
                "gammaln": f"special.gammaln(1.5 + {self.paren(a)} ** 2)",
                "arcsinh": f"np.arcsinh({a})"}[form]

    def library_vector(self, scope: Scope, depth: int) -> str:
        """A (3,) vector through a smooth library function."""
        v = self.vector(scope, depth)
        forms = ["cumsum", "roll", "arcsinh", "expit", "arctan", "cross", "softmax", "logaddexp",
                 "sinc", "pad", "interp", "split"]
        if scope.of("m"):
            forms.append("solve")
        form = self.pick(forms)
        if form == "solve":
            m = self.matrix(scope, depth)
            return (f"{self.paren(m)}.T @ np.linalg.solve({self.paren(m)} @ {self.paren(m)}.T "
                    f"+ np.eye(2), {self.paren(m)} @ {self.paren(v)})")
        if form in ("cross", "logaddexp"):
            w = self.vector(scope, depth) if form == "cross" else self.scalar(scope, depth)
            return f"np.{form}({v}, {w})"
        if form in ("interp", "split"):
            w = self.vector(scope, depth)
            if form == "interp":
                return f"np.interp({v}, KN, {w})"
            return f"0.5 * np.split(np.concatenate(({v}, {w})), [2, 5])[1]"   # (a view: scaled)
        return {"cumsum": f"np.cumsum({v})", "roll": f"np.roll({v}, 1)", "arcsinh": f"np.arcsinh({v})",
                "expit": f"special.expit({v})", "arctan": f"np.arctan({v})",
                "softmax": f"special.softmax({v})", "sinc": f"np.sinc({v})",
                "pad": f"0.5 * np.diff(np.pad({v}, 1, constant_values=0.5))[:3]"}[form]

    def scalar_index(self, scope: Scope) -> str:
        arrays = scope.of("v") + scope.of("m")
        var = self.pick(arrays)
        if scope.of("p") and self.feat("int_work_arrays") and self.coin():
            self.use("int_work_arrays")
            column = f"{self.pick(v.name for v in scope.of('p'))}[{self.index(scope, 'v')}]"
        else:
            column = None
        if var.type == "v":
            return f"{var.name}[{column or self.index(scope, 'v')}]"
        return f"{var.name}[{self.index(scope, 'm')}, {column or self.pick(('0', '1', '2', '-1'))}]"

    def scalar_reduce(self, scope: Scope, depth: int) -> str:
        t = self.pick([t for t in "vm" if scope.of(t)] or ["v"])
        fn = self.pick(("sum", "mean"))
        if t == "v":
            if depth > 0 or not scope.of("v"):
                inner = self.vector(scope, max(depth, 0))
            else:
                inner = self.pick(v.name for v in scope.of("v"))
            if self.feat("slice_read") and self.coin():
                self.use("slice_read")
                inner = f"{self.paren(inner)}[{self.pick(('1:', ':2', '::2', '::-1'))}]"
            return f"np.{fn}({inner})"
        inner = self.matrix(scope, max(depth, 0)) if depth > 0 else self.pick(v.name for v in scope.of("m"))
        return f"np.{fn}({inner})"

    def scalar_dot(self, scope: Scope, depth: int) -> str:
        a, b = self.vector(scope, depth), self.vector(scope, depth)
        if self.coin():
            return f"np.dot({a}, {b})"
        return f"{self.paren(a)} @ {self.paren(b)}"

    # ----------------------------------------------------------------- array expressions
    def vector(self, scope: Scope, depth: int = 1) -> str:
        """An expression of shape (3,)."""
        return self.span(lambda: self._vector(scope, depth))

    def _vector(self, scope: Scope, depth: int) -> str:
        atoms = []
        if scope.of("v"):
            atoms.append((None, lambda: self.pick(v.name for v in scope.of("v"))))
        if scope.of("m") and self.feat("matrix_ops"):
            atoms.append(("matrix_ops", lambda: f"{self.pick(v.name for v in scope.of('m'))}[{self.index(scope, 'm')}]"))
        if self.feat("slice_read") and scope.of("v"):
            atoms.append(("slice_read", lambda: f"{self.pick(v.name for v in scope.of('v'))}[::-1]"))
        if not atoms:                   # no array in scope: build one from scalars
            return self.vector_literal(scope)
        if depth <= 0:
            return self.pick_option(atoms)
        compound = [
            ("arith", lambda: self.vector_arith(scope, depth)),
            ("trig", lambda: f"np.{self.pick(('sin', 'cos', 'tanh'))}({self.vector(scope, depth - 1)})"),
            ("exp_log_sqrt", lambda: self.bounded_call(self.vector(scope, depth - 1))),
            ("pow", lambda: f"{self.paren(self.vector(scope, depth - 1))} ** 2"),
            ("div", lambda: self.vector_div(scope, depth)),
            ("library", lambda: self.library_vector(scope, depth - 1)),
        ]
        if scope.of("m"):
            compound.append(("matrix_ops", lambda: self.vector_from_matrix(scope, depth)))
        if self.coin():
            return self.pick_option(compound)
        return self.pick_option(atoms)

    def vector_literal(self, scope: Scope) -> str:
        """A (3,) array from scalars: np.array([a, b, c]) or, without 'array_literal',
        a * np.ones(3)."""
        if not self.feat("array_literal"):
            return f"{self.paren(self.scalar(scope, 0))} * np.ones(3)"
        self.use("array_literal")
        return f"np.array([{self.scalar(scope, 0)}, {self.scalar(scope, 0)}, {self.scalar(scope, 0)}])"

    def vector_arith(self, scope, depth) -> str:
        op = self.pick(("+", "*", "-"))
        a = self.vector(scope, depth - 1)
        b = self.scalar(scope, 0) if self.coin() else self.vector(scope, depth - 1)
        if self.coin():
            a, b = b, a
        return f"{self.paren(a)} {op} {self.paren(b)}"

    def vector_div(self, scope, depth) -> str:
        a, b = self.vector(scope, depth - 1), self.vector(scope, depth - 1)
        return f"{self.paren(a)} / (1.0 + {self.paren(b)} * {self.paren(b)})"

    def vector_from_matrix(self, scope, depth) -> str:
        m = self.matrix(scope, depth - 1)
        form = self.pick(("sum0", "mean0", "vecmat"))
        if form == "vecmat":
            v = self.vector(scope, depth - 1)
            return f"({self.paren(m)} @ {self.paren(v)}) @ {self.paren(m)}"
        return f"np.{form[:-1]}({m}, axis=0)"

    def matrix(self, scope: Scope, depth: int = 1) -> str:
        """An expression of shape (2, 3); needs a matrix in scope."""
        name = self.pick(v.name for v in scope.of("m"))
        if depth <= 0 or not self.coin():
            return name
        form = self.pick(("scale", "trig", "bcast", "add"))
        if form == "scale":
            self.use("arith")
            return f"{name} * {self.paren(self.scalar(scope, 0))}"
        if form == "trig" and self.feat("trig"):
            self.use("trig")
            return f"np.{self.pick(('sin', 'tanh'))}({self.matrix(scope, depth - 1)})"
        if form == "bcast" and self.feat("matrix_ops"):
            self.use("matrix_ops")
            return f"{name} * {self.paren(self.vector(scope, depth - 1))}"
        self.use("arith")
        return f"{name} + {self.paren(self.matrix(scope, depth - 1))}"

    def value_of(self, scope: Scope, t: str, depth: int = 1) -> str:
        return {"f": self.scalar, "v": self.vector, "m": self.matrix}[t](scope, depth)

    # ----------------------------------------------------------------- conditions
    def condition(self, scope: Scope, depth: int = 1) -> str:
        forms = [(None, lambda: self.cond_compare(scope))]
        ints = scope.of("i")
        if ints:
            forms.append((None, lambda: self.cond_int(ints)))
        if depth > 0:
            forms.append(("bool_ops", lambda: self.cond_bool(scope)))
        return self.pick_option(forms)

    def cond_compare(self, scope: Scope) -> str:
        return f"{self.scalar(scope, 1)} {self.pick(('>', '<'))} {self.pick(COND_CONSTS)}"

    def cond_int(self, ints) -> str:
        name = self.pick(v.name for v in ints)
        form = self.pick(("==", ">", "<", "even", "odd"))
        if form == "even":
            return f"{name} % 2 == 0"
        if form == "odd":
            return f"{name} % 2 == 1"
        return f"{name} {form} {self.pick(('1', '0', '2'))}"

    def cond_bool(self, scope: Scope) -> str:
        form = self.pick(("and", "or", "not"))
        a = self.condition(scope, 0)
        if form == "not":
            return f"not ({a})"
        return f"({a}) {form} ({self.condition(scope, 0)})"

    # ----------------------------------------------------------------- blocks
    def block(self, scope: Scope, ctx: Ctx, hi: int = 3, keep_going: int = 1) -> list[str]:
        """Statements at one indentation level (lines relative to it), up to ``hi``.

        Before each statement a draw decides whether there is one more (with odds
        keep_going : 1), so the shrinker can delete any statement, the first included;
        an empty nested block becomes ``pass``."""
        lines: list[str] = []
        count = 0
        while count < hi and self.int_in(0, keep_going) > 0:
            count += 1
            stmt, ends = self.span(lambda: self.statement(scope, ctx))
            lines += stmt
            if ends:                    # break / continue / return end the block
                break
        return lines

    def statement(self, scope: Scope, ctx: Ctx) -> tuple[list[str], bool]:
        opts = [(None, lambda: self.stmt_assign_new(scope))]
        if scope.of("f") or scope.of("v") or scope.of("m"):
            opts.append((None, lambda: self.stmt_assign_existing(scope)))
        if scope.of("f"):
            opts.append(("augassign", lambda: self.stmt_augassign(scope)))
        if scope.of("v", FRESH) or scope.of("m", FRESH):
            opts.append(("augassign_array", lambda: self.stmt_augassign_array(scope)))
        opts.append(("tuple_assign", lambda: self.stmt_tuple_assign(scope)))
        opts.append(("owned_arrays", lambda: self.stmt_owned_array(scope)))
        if scope.of("v", OWNED) or scope.of("m", OWNED):
            opts.append(("store_index", lambda: self.stmt_store_index(scope)))
        if scope.of("v", OWNED):
            opts.append(("store_slice", lambda: self.stmt_store_slice(scope)))
        if scope.of("v") or scope.of("m"):
            opts.append(("alias", lambda: self.stmt_alias(scope)))
            opts.append(("views", lambda: self.stmt_view(scope)))
        opts.append(("int_work_arrays", lambda: self.stmt_int_array(scope)))
        if scope.of("p"):
            opts.append(("int_work_arrays", lambda: self.stmt_permute(scope)))
        if scope.of("c"):
            opts.append(("int_work_arrays", lambda: self.stmt_truncating_store(scope)))
        if self.feat("helpers") and not ctx.in_helper:
            opts.append(("helpers", lambda: self.stmt_helper_call(scope)))
        if ctx.depth < MAX_DEPTH and (not ctx.in_helper or self.feat("helper_control")):
            opts.append(("if", lambda: self.stmt_if(scope, ctx)))
            opts.append(("for_range", lambda: self.stmt_for_range(scope, ctx)))
            if any(v.name == "n" for v in scope.of("i")):
                opts.append(("for_range_arg", lambda: self.stmt_for_range_arg(scope, ctx)))
            if scope.of("v") or scope.of("m"):
                opts.append(("for_range_len", lambda: self.stmt_for_range_len(scope, ctx)))
                opts.append(("for_array", lambda: self.stmt_for_array(scope, ctx)))
                opts.append(("enumerate", lambda: self.stmt_for_enumerate(scope, ctx)))
            if scope.of("v"):
                opts.append(("zip", lambda: self.stmt_for_zip(scope, ctx)))
            opts.append(("while", lambda: self.stmt_while(scope, ctx)))
        deep_ok = self.feat("deep_jumps")
        if ctx.in_loop and (deep_ok or ctx.ifs_in_loop <= 1):
            jump = [("deep_jumps", "break")] if ctx.ifs_in_loop > 1 else []
            opts.append(("break", lambda: self.jump(["break"], jump)))
            opts.append(("continue", lambda: self.jump(["continue"], jump)))
        if ctx.depth > 0 and (not ctx.in_helper or self.feat("helper_control")) and (deep_ok or ctx.depth <= 1):
            jump = [("deep_jumps", "return")] if ctx.depth > 1 else []
            opts.append(("return_early", lambda: self.jump(self.stmt_return(scope, ctx), jump)))
        result = self.pick_option(opts)
        return result if isinstance(result, tuple) else (result, False)

    def jump(self, lines: list[str], deep) -> tuple[list[str], bool]:
        """break / continue / return: they end their block; two or more levels below
        their loop (break, continue) or function (return) they are 'deep_jumps'."""
        if deep:
            self.use("deep_jumps")
        return lines, True

    # ----------------------------------------------------------------- simple statements
    def stmt_assign_new(self, scope: Scope) -> list[str]:
        t = self.pick(["f", "v"] + (["m"] if scope.of("m") else []))
        prefix = {"f": "s", "v": "u", "m": "W"}[t]
        value = self.value_of(scope, t)
        name = self.fresh(prefix)
        scope.add(Var(name, t, self.own_of(value, scope, t)))
        return [f"{name} = {value}"]

    def own_of(self, value: str, scope: Scope, t: str) -> int:
        """The ownership level of an array expression's value."""
        if t == "f":
            return OWNED
        var = scope.vars.get(value)
        if var is not None:
            return var.own                          # a bare name: the same array
        if value.endswith("]") and value.split("[")[0] in scope.vars and "(" not in value.split("[")[0]:
            return PARAM                            # u[::-1], M[k]: a view
        return FRESH

    def stmt_assign_existing(self, scope: Scope) -> list[str]:
        var = self.pick([v for v in scope.vars.values() if v.type in "fvm"])
        for _ in range(3):
            value = self.value_of(scope, var.type)
            if self.own_of(value, scope, var.type) >= var.own:
                return [f"{var.name} = {value}"]
        return [f"{var.name} = {self.owned_value(scope, var.type)}"]

    def stmt_augassign(self, scope: Scope) -> list[str]:
        var = self.pick(scope.of("f"))
        op = self.pick(("+=", "-=", "*="))
        if op == "*=":
            return [f"{var.name} *= {self.bounded_factor(scope)}"]
        return [f"{var.name} {op} {self.scalar(scope, 1)}"]

    def bounded_factor(self, scope: Scope) -> str:
        if self.feat("trig") and self.coin():
            self.use("trig")
            return f"np.{self.pick(('cos', 'tanh', 'sin'))}({self.scalar(scope, 1)})"
        return self.pick(("0.5", "-0.75", "1.25"))

    def stmt_augassign_array(self, scope: Scope) -> list[str]:
        var = self.pick(scope.of("v", FRESH) + scope.of("m", FRESH))
        op = self.pick(("+=", "-=", "*="))
        if var.type == "m":
            value = self.pick_option([(None, lambda: self.scalar(scope, 1)),
                                      (None, lambda: self.matrix(scope, 1))])
        else:
            value = self.scalar(scope, 1) if self.coin() else self.vector(scope, 1)
        if op == "*=":
            value = f"np.tanh({value})" if self.feat("trig") else "0.5"
        return [f"{var.name} {op} {value}"]

    def stmt_tuple_assign(self, scope: Scope) -> list[str]:
        scalars = scope.of("f")
        if len(scalars) >= 2 and self.coin():
            a, b = self.pick(scalars), self.pick(scalars)
            if a.name != b.name:
                return [f"{a.name}, {b.name} = {b.name}, {a.name} * {self.pick(('0.5', '-1.5', '2.0'))}"]
        arrays = scope.of("v", FRESH)
        if len(arrays) >= 2 and self.coin():
            a, b = self.pick(arrays), self.pick(arrays)
            if a.name != b.name and a.own == b.own:
                return [f"{a.name}, {b.name} = {b.name}, {a.name}"]
        t2 = self.pick(("f", "v"))
        e1, e2 = self.scalar(scope, 1), self.value_of(scope, t2, 1)
        p = self.fresh("s")
        q = self.fresh({"f": "s", "v": "u"}[t2])
        scope.add(Var(p, "f", OWNED))
        scope.add(Var(q, t2, self.own_of(e2, scope, t2)))
        return [f"{p}, {q} = {e1}, {e2}"]

    def owned_value(self, scope: Scope, t: str) -> str:
        """A constructor call: np.zeros/np.ones/zeros_like, with 'copy' also .copy() and
        np.copy of a value, with 'array_literal' also np.array([a, b, c])."""
        copy = self.feat("copy")
        if t == "m":
            opts = ["np.zeros((2, 3))", "np.ones((2, 3))"]
            if scope.of("m"):
                m = self.pick(v.name for v in scope.of("m"))
                opts += [f"np.zeros_like({m})"] + ([f"{m}.copy()", f"np.copy({m})"] if copy else [])
            choice = self.pick(opts)
        else:
            opts = ["np.zeros(3)", "np.ones(3)"]
            if scope.of("v"):
                opts.append(f"np.zeros_like({self.pick(v.name for v in scope.of('v'))})")
                if copy:
                    opts.append(f"{self.pick(v.name for v in scope.of('v'))}.copy()")
            opts += (["expr_copy"] if copy else []) + (["literal"] if self.feat("array_literal") else [])
            choice = self.pick(opts)
            if choice == "literal":
                return self.vector_literal(scope)
            if choice == "expr_copy":
                choice = f"({self.vector(scope, 1)}).copy()"
        if "copy" in choice:
            self.use("copy")
        return choice

    def stmt_owned_array(self, scope: Scope) -> list[str]:
        t = "m" if scope.of("m") and self.coin() else "v"
        name = self.fresh("W" if t == "m" else "u")
        value = self.owned_value(scope, t)
        scope.add(Var(name, t, OWNED))
        return [f"{name} = {value}"]

    def stmt_store_index(self, scope: Scope) -> list[str]:
        var = self.pick(scope.of("v", OWNED) + scope.of("m", OWNED))
        op = self.pick(("=", "+=", "*=")) if self.feat("augassign") else "="
        if var.type == "v":
            target = f"{var.name}[{self.index(scope, 'v')}]"
            value = self.scalar(scope, 1)
        elif self.coin():
            target = f"{var.name}[{self.index(scope, 'm')}]"
            value = self.vector(scope, 1)
        else:
            target = f"{var.name}[{self.index(scope, 'm')}, {self.pick(('0', '1', '2'))}]"
            value = self.scalar(scope, 1)
        if op == "*=":
            value = self.bounded_factor(scope)
        return [f"{target} {op} {value}"]

    def stmt_store_slice(self, scope: Scope) -> list[str]:
        var = self.pick(scope.of("v", OWNED))
        target = self.pick(("1:", ":2", ":", "::2"))
        op = self.pick(("=", "+="))
        if target == ":":
            value = self.scalar(scope, 1) if self.coin() else self.vector(scope, 1)
        else:
            src = self.vector(scope, 1)
            value = f"{self.paren(src)}[{self.pick(('1:', ':2', '::2'))}]"
            if self.coin():
                value = f"{value} * {self.paren(self.scalar(scope, 0))}"
        return [f"{var.name}[{target}] {op} {value}"]

    def stmt_alias(self, scope: Scope) -> list[str]:
        var = self.pick(scope.of("v") + scope.of("m"))
        name = self.fresh("b")
        scope.add(Var(name, var.type, var.own))
        return [f"{name} = {var.name}"]

    def stmt_int_array(self, scope: Scope) -> list[str]:
        if self.coin():
            name = self.fresh("p")
            scope.add(Var(name, "p", OWNED))
            return [f"{name} = {self.pick(('np.arange(3)', 'np.array([2, 0, 1])'))}"]
        name = self.fresh("c")
        scope.add(Var(name, "c", OWNED))
        return [f"{name} = {self.pick(('np.zeros(3, dtype=int)', 'np.ones(3, dtype=np.int64)'))}"]

    def stmt_permute(self, scope: Scope) -> list[str]:
        p = self.pick(v.name for v in scope.of("p"))
        a, b = self.index(scope, "v"), self.index(scope, "v")
        if self.coin():
            return [f"{p}[{a}], {p}[{b}] = {p}[{b}], {p}[{a}]"]
        return [f"{p}[{a}] = ({p}[{a}] + 1) % 3"]

    def stmt_truncating_store(self, scope: Scope) -> list[str]:
        c = self.pick(v.name for v in scope.of("c"))
        return [f"{c}[{self.index(scope, 'v')}] {self.pick(('=', '+='))} {self.scalar(scope, 1)}"]

    def stmt_view(self, scope: Scope) -> list[str]:
        opts = [f"{v.name}[::-1]" for v in scope.of("v")] + \
               [f"{v.name}[{k}]" for v in scope.of("m") for k in ("0", "1")]
        value = self.pick(opts)
        name = self.fresh("r")
        scope.add(Var(name, "v", PARAM))
        return [f"{name} = {value}"]

    def stmt_return(self, scope: Scope, ctx: Ctx) -> list[str]:
        return [f"return {self.result(scope, ctx)}"]

    def result(self, scope: Scope, ctx: Ctx) -> str:
        parts = [self.scalar(scope, 1)]
        if len(ctx.returns) == 2:
            parts.append(self.scalar(scope, 1))
            return ", ".join(parts)
        return parts[0]

    # ----------------------------------------------------------------- compound statements
    def indent(self, lines: list[str]) -> list[str]:
        return ["    " + line for line in lines]

    def nested(self, scope: Scope, ctx: Ctx, loop: bool = False, extra: list[Var] = (),
               levels: int = 1) -> list[str]:
        """An indented block; ``levels=2`` for an elif body (an if inside an else)."""
        inner = scope.child()
        for v in extra:
            inner.add(v)
        ifs = 0 if loop else ctx.ifs_in_loop + levels
        body = self.block(inner, Ctx(ctx.depth + levels, ctx.in_loop or loop, ctx.returns, ctx.in_helper, ifs), 3, 2)
        return self.indent(body or ["pass"])

    def stmt_if(self, scope: Scope, ctx: Ctx) -> list[str]:
        lines = [f"if {self.condition(scope)}:"] + self.nested(scope, ctx)
        while self.feat("elif") and self.coin():
            self.use("elif")
            lines += [f"elif {self.condition(scope)}:"] + self.nested(scope, ctx, levels=2)
            if len(lines) > 40:
                break
        if self.feat("else") and self.coin():
            self.use("else")
            lines += ["else:"] + self.nested(scope, ctx)
        return lines

    def stmt_for_range(self, scope: Scope, ctx: Ctx) -> list[str]:
        k = self.int_in(1, 4)
        start = self.pick((0, 0, 1)) if k > 1 else 0
        i = self.fresh("i")
        head = f"for {i} in range({k}):" if start == 0 else f"for {i} in range({start}, {k}):"
        return [head] + self.nested(scope, ctx, True, [Var(i, "i", bound=k)])

    def stmt_for_range_arg(self, scope: Scope, ctx: Ctx) -> list[str]:
        n = self.pick([v.name for v in scope.of("i") if v.name == "n"])
        i = self.fresh("i")
        return [f"for {i} in range({n}):"] + self.nested(scope, ctx, True, [Var(i, "i", bound=3)])

    def stmt_for_range_len(self, scope: Scope, ctx: Ctx) -> list[str]:
        var = self.pick(scope.of("v") + scope.of("m"))
        i = self.fresh("i")
        start = self.pick(("", "1, "))
        return [f"for {i} in range({start}len({var.name})):"] + \
            self.nested(scope, ctx, True, [Var(i, "i", bound=LENGTH[var.type])])

    def stmt_for_array(self, scope: Scope, ctx: Ctx) -> list[str]:
        var = self.pick(scope.of("v") + scope.of("m"))
        e = self.fresh("e" if var.type == "v" else "row")
        item = Var(e, "f", OWNED) if var.type == "v" else Var(e, "v", PARAM)
        return [f"for {e} in {var.name}:"] + self.nested(scope, ctx, True, [item])

    def stmt_for_enumerate(self, scope: Scope, ctx: Ctx) -> list[str]:
        var = self.pick(scope.of("v") + scope.of("m"))
        i, e = self.fresh("i"), self.fresh("e" if var.type == "v" else "row")
        item = Var(e, "f", OWNED) if var.type == "v" else Var(e, "v", PARAM)
        return [f"for {i}, {e} in enumerate({var.name}):"] + \
            self.nested(scope, ctx, True, [Var(i, "i", bound=LENGTH[var.type]), item])

    def stmt_for_zip(self, scope: Scope, ctx: Ctx) -> list[str]:
        a = self.pick(scope.of("v"))
        b = self.pick(scope.of("v"))
        p, q = self.fresh("e"), self.fresh("e")
        return [f"for {p}, {q} in zip({a.name}, {b.name}):"] + \
            self.nested(scope, ctx, True, [Var(p, "f", OWNED), Var(q, "f", OWNED)])

    def stmt_while(self, scope: Scope, ctx: Ctx) -> list[str]:
        k = self.fresh("k")
        limit = self.int_in(1, 4)
        cond = f"{k} < {limit}"
        if self.feat("bool_ops") and self.coin():
            self.use("bool_ops")
            cond = f"{cond} and {self.cond_compare(scope)}"
        counter = Var(k, "i", bound=None)
        body = self.nested(scope, ctx, True, [counter])
        # the counter moves first, so a `continue` anywhere in the body cannot loop forever
        return [f"{k} = 0", f"while {cond}:", f"    {k} += 1"] + [b for b in body if b != "    pass"]

    # ----------------------------------------------------------------- helpers
    def helper_call_expr(self, scope: Scope, want: str) -> str:
        name, ptypes, returns = self.helper(scope, want_tuple=False)
        args = ", ".join(self.value_of(scope, t, 0) for t in ptypes)
        return f"{name}({args})"

    def stmt_helper_call(self, scope: Scope) -> list[str]:
        want_tuple = self.feat("helper_tuple") and self.coin()
        name, ptypes, returns = self.helper(scope, want_tuple)
        args = ", ".join(self.value_of(scope, t, 1) for t in ptypes)
        if len(returns) == 2:
            self.use("helper_tuple")
            p, q = self.fresh("s"), self.fresh("s")
            scope.add(Var(p, "f"))
            scope.add(Var(q, "f"))
            return [f"{p}, {q} = {name}({args})"]
        p = self.fresh("s")
        scope.add(Var(p, "f"))
        return [f"{p} = {name}({args})"]

    def helper(self, scope: Scope, want_tuple: bool):
        """An existing helper with the wanted result, or a new one."""
        returns = ("f", "f") if want_tuple else ("f",)
        fits = [h for h in self.helpers if h[2] == returns]
        if fits and self.coin():
            h = self.pick(fits)
            return h[0], h[1], h[2]
        name = f"h{len(self.helpers)}"
        ptypes = ["f"]
        if self.feat("helper_arrays") and self.coin():
            self.use("helper_arrays")
            ptypes = [self.pick(("v", "f")), "f"]
        elif self.coin():
            ptypes = ["f", "f"]
        params = ["a", "b", "c"][:len(ptypes)]
        hscope = Scope()
        for p, t in zip(params, ptypes):
            hscope.add(Var(p, t, PARAM))
        saved = self.ctx_in_helper
        self.ctx_in_helper = True
        ctx = Ctx(0, False, returns, True)
        if self.feat("helper_control"):
            self.use("helper_control")
        body = self.block(hscope, ctx, 3, 1)
        body.append(f"return {self.result(hscope, ctx)}")
        self.ctx_in_helper = saved
        lines = [f"def {name}({', '.join(params)}):"] + self.indent(body)
        self.helpers.append((name, ptypes, returns, lines))
        return name, ptypes, returns

    # ----------------------------------------------------------------- the function
    def function(self) -> tuple[list[tuple[str, str]], list, list[str]]:
        kinds = []
        if self.feat("param_scalar"):
            kinds.append(("param_scalar", lambda: "f"))
        if self.feat("param_vector"):
            kinds.append(("param_vector", lambda: "v"))
        if self.feat("param_matrix"):
            kinds.append(("param_matrix", lambda: "m"))
        kinds = kinds or [(None, lambda: "f")]
        first = self.pick_option(kinds)
        params = [("x", first)]
        if self.feat("two_params") and self.coin():
            self.use("two_params")
            second = list(kinds)
            if self.feat("param_int"):
                second.append(("param_int", lambda: "i"))
            t = self.pick_option(second)
            params.append(("n" if t == "i" else "y", t))
        values = [self.arg_value(t) for _, t in params]
        scope = Scope()
        for name, t in params:
            scope.add(Var(name, t, PARAM, bound=None))
        ctx = Ctx()
        body = self.block(scope, ctx, 6, 5)
        body.append(f"return {self.final_result(scope)}")
        lines = [f"def f({', '.join(p for p, _ in params)}):"] + self.indent(body)
        return params, values, lines

    def arg_value(self, t: str):
        if t == "i":
            return self.int_in(0, 3)
        if t == "f":
            return grid_value(self.int_in(-9, 9))
        shape = SHAPES[t]
        flat = [grid_value(self.int_in(-9, 9)) for _ in range(int(np.prod(shape)))]
        return np.array(flat).reshape(shape).tolist()

    def final_result(self, scope: Scope) -> str:
        """Every float value in scope feeds the result, each with its own weight, so a
        wrong derivative of any of them (or of any one element) shows."""
        weights = ("1.0", "0.5", "-0.7", "1.3", "0.9", "-1.1", "0.6")
        terms = []
        k = 0
        for v in scope.vars.values():
            if v.type == "i":
                continue
            w = weights[k % len(weights)]
            k += 1
            if v.type == "f":
                terms.append(f"{w} * {v.name}")
            elif v.type == "v":
                terms.append(f"{w} * np.dot({v.name}, WV)")
            else:
                terms.append(f"{w} * np.sum({v.name} * WM)")
        return " + ".join(terms) if terms else "0.0"

    def module(self) -> Program:
        params, values, f_lines = self.function()
        out = ["import math", "", "import numpy as np", "from scipy import special", "", "WV = np.array([0.7, -1.3, 0.4])",
               "WM = np.array([[0.7, -1.3, 0.4], [1.1, 0.2, -0.6]])", "KN = np.array([-3.0, 0.0, 3.0])"]
        out += [f"{n} = {v}" for n, v in self.globals]
        for _, _, _, lines in self.helpers:
            out += ["", ""] + lines
        out += ["", ""] + f_lines
        return Program("\n".join(out) + "\n", params, values, frozenset(self.used))


# --------------------------------------------------------------------------- the strategy
@st.composite
def programs(draw, off=(), on=None) -> Program:
    """A random program (see the module docstring); ``off``: feature flags to switch off."""
    return Builder(draw, features_with(off, on)).module()
