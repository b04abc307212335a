"""Checks one generated program against Python itself and central differences.

``check(program, jit=False, jvp=True)`` loads the program as a real module (a file in a
temporary directory, imported with importlib, so ``inspect.getsource`` works), then:

1. ``srcgrad.value_and_grad(f, wrt=<every float parameter>)`` returns ``f(*args)`` as
   Python computes it, to 1e-12 relative (with a floor of 1 on the scale);
2. its gradient matches central differences with Richardson extrapolation, in float64
   (skipped when the differences at two step sizes disagree: a branch or a trip count
   changes within a step, so the function is not smooth there);
3. (``jit=True``) the Numba-compiled derivative agrees with the Python one to 1e-10;
4. ``srcgrad.jvp(f, primals, tangents)`` with a random tangent returns ``f(x)`` and
   ``dot(gradient, tangent)``;
5. no call changes its arguments;
6. anything refused is refused with a ``srcgrad.SrcgradError``; any other exception fails.

It returns an ``Outcome`` (ok / refused / rejected / fail, with every failure found) and
adds it to ``STATS``.  ``raise_for(outcome)`` turns a failure into an exception whose
class names the kind of failure, so Hypothesis shrinks each kind separately.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import importlib.util
import re
import signal
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import srcgrad

VALUE_RTOL = 1e-12          # srcgrad's value vs Python's
JIT_RTOL = 1e-10            # jit vs Python backend
AD_RTOL = 1e-9              # two exact derivatives computed in different orders (jvp vs grad)
FD_RTOL = 1e-5              # AD vs Richardson-extrapolated central differences
FD_STEPS = (2e-3, 5e-4)     # the two step sizes whose extrapolations must agree
HUGE = 1e8                  # values beyond this are rejected (the grammar bounds most)
TIMEOUT = 120               # seconds per program (a generated loop that never ends)

FAIL_KINDS = {
    "invalid-program": "the generated program itself fails in Python (a fuzzer bug)",
    "raw-exception": "value_and_grad raised something other than SrcgradError",
    "wrong-value": "value_and_grad's value differs from f(*args)",
    "wrong-gradient": "value_and_grad's gradient differs from central differences",
    "bad-gradient-type": "a gradient of the wrong shape or type",
    "input-mutated": "a srcgrad call changed its arguments",
    "jvp-raw-exception": "jvp raised something other than SrcgradError",
    "jvp-wrong-value": "jvp's primal output differs from f(*args)",
    "jvp-wrong-tangent": "jvp's tangent differs from dot(gradient, tangent)",
    "jit-raw-exception": "jit=True raised something other than SrcgradError",
    "jit-mismatch": "jit=True disagrees with jit=False",
    "jit-wrong-value": "jit=True (where jit=False refused or crashed) differs from f(*args)",
    "jit-wrong-gradient": "jit=True (where jit=False refused or crashed) differs from central differences",
    "internal-error": "srcgrad's own IR checker tripped (IRCheckError): a compiler bug, not a refusal",
    "jvp-internal-error": "the same, in jvp",
    "jit-internal-error": "the same, with jit=True",
    "jvp-input-mutated": "jvp changed its arguments",
    "jit-input-mutated": "value_and_grad(jit=True) changed its arguments",
    "timeout": "a srcgrad call did not finish",
}

#: SrcgradError subclasses that report a bug in srcgrad rather than refuse the program
INTERNAL_ERRORS = ("IRCheckError", "InternalError")     # srcgrad bugs, not refusals


# --------------------------------------------------------------------------- outcomes
@dataclass
class Failure:
    kind: str
    detail: str
    exc: BaseException | None = None

    def __str__(self):
        return f"[{self.kind}] {self.detail}"


@dataclass
class Outcome:
    status: str = "ok"                      # ok | refused | rejected | fail
    failures: list[Failure] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)     # "stage: normalised message"
    reason: str = ""                        # why rejected
    fd_checked: bool = False

    def fail(self, kind, detail, exc=None):
        self.failures.append(Failure(kind, detail, exc))
        self.status = "fail"

    def refuse(self, stage, exc):
        if type(exc).__name__ in INTERNAL_ERRORS:
            kind = "internal-error" if stage == "grad" else f"{stage}-internal-error"
            self.fail(kind, f"{stage}: {_exc_text(exc)}", exc)
            return
        self.refusals.append(f"{stage}: {refusal_key(exc)}")
        if self.status == "ok":
            self.status = "refused"

    @property
    def kinds(self) -> list[str]:
        return [f.kind for f in self.failures]

    @property
    def signatures(self) -> list[str]:
        return [signature(f) for f in self.failures]


def signature(failure: Failure) -> str:
    """What tells two failures apart without reading them: the kind, and for exceptions
    the exception type and the innermost srcgrad/numba frame that raised it."""
    if failure.exc is None or failure.kind == "invalid-program":
        return failure.kind
    tb = traceback.extract_tb(failure.exc.__traceback__)
    inner = [fr for fr in tb if "srcgrad" in fr.filename]
    where = f"{Path(inner[-1].filename).name}:{inner[-1].lineno}" if inner else "?"
    return f"{failure.kind} {type(failure.exc).__name__} at {where}"


class Stats:
    """Counts over a run: what was checked, refused (by message), rejected, failed."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.programs = 0
        self.status = collections.Counter()
        self.refused = collections.Counter()
        self.rejected = collections.Counter()
        self.failures = collections.Counter()
        self.fd_checked = 0
        self.first_failure: dict[str, tuple] = {}   # kind -> (program, failure)
        self.features = collections.Counter()          # programs using each feature
        self.failure_features = collections.Counter()  # failures in programs using it

    def add(self, program, outcome: Outcome):
        self.programs += 1
        self.status[outcome.status] += 1
        self.refused.update(outcome.refusals)
        if outcome.status == "rejected":
            self.rejected[outcome.reason] += 1
        self.fd_checked += outcome.fd_checked
        for f in outcome.failures:
            self.failures[f.kind] += 1
            self.first_failure.setdefault(f.kind, (program, f))
            self.failure_features.update(program.features)
        self.features.update(program.features)

    def summary(self, top: int = 25) -> str:
        lines = [f"fuzz: {self.programs} programs: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(self.status.items()))
                 + f"; gradient checked against central differences in {self.fd_checked}"]
        if self.rejected:
            lines.append("rejected: " + ", ".join(f"{k} {v}" for k, v in self.rejected.most_common()))
        if self.refused:
            lines.append(f"refusals by message ({sum(self.refused.values())} in all):")
            lines += [f"  {v:6d}  {k}" for k, v in self.refused.most_common(top)]
        if self.failures:
            lines.append("failures by kind:")
            lines += [f"  {v:6d}  {k}" for k, v in self.failures.most_common()]
            for kind, (program, failure) in self.first_failure.items():
                lines += [f"--- first {kind} (unshrunk):", program.source.rstrip(),
                          f"# args: {program.call_text()}", f"# {failure.detail}"]
        else:
            lines.append("failures: none")
        return "\n".join(lines)


STATS = Stats()


def refusal_key(exc: BaseException) -> str:
    """A refusal message without names, numbers and locations, to count by."""
    text = getattr(exc, "message", None) or str(exc).split("\n")[0]
    construct = getattr(exc, "construct", None)
    if construct and not text.startswith(construct):
        text = f"{construct}: {text}"
    text = re.sub(r"fz_[0-9a-f]+\.", "", text)
    text = re.sub(r"'[^']*'", "'_'", text)
    text = re.sub(r"\b\d+\b", "N", text)
    text = re.sub(r"\bh\d+\b", "h_", text)
    return f"{type(exc).__name__}: {text[:160]}"


# --------------------------------------------------------------------------- loading
_DIR: Path | None = None
_MODULES: "collections.OrderedDict[str, object]" = collections.OrderedDict()
_KEEP = 64                  # modules kept loaded (a shrinker revisits recent programs)


def load(source: str, fname: str = "f"):
    """The function ``fname`` of a module with this source, written to a real file."""
    global _DIR
    key = hashlib.sha1(source.encode()).hexdigest()[:16]
    mod = _MODULES.get(key)
    if mod is not None:
        _MODULES.move_to_end(key)
    else:
        if _DIR is None:
            _DIR = Path(tempfile.mkdtemp(prefix="srcgrad_fuzz_"))
        name = f"fz_{key}"
        path = _DIR / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        _MODULES[key] = mod
        while len(_MODULES) > _KEEP:
            _forget(_MODULES.popitem(last=False)[1])
    return getattr(mod, fname)


def _forget(mod):
    """Let a program's module, its functions and their derivatives be freed: srcgrad
    keeps every function it has transformed (api._TRANSFORMED, keyed by id), which over
    thousands of programs (compiled by Numba, too) adds up to gigabytes."""
    sys.modules.pop(mod.__name__, None)
    cache = getattr(getattr(srcgrad, "api", None), "_TRANSFORMED", None)
    if isinstance(cache, dict):
        for value in list(vars(mod).values()):
            entry = cache.get(id(value))
            if isinstance(entry, tuple) and entry and entry[0] is value:
                del cache[id(value)]


# --------------------------------------------------------------------------- numerics
def _copy(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _same_args(a, b) -> bool:
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray):
            if not (isinstance(y, np.ndarray) and x.shape == y.shape and np.array_equal(x, y)):
                return False
        elif x != y:
            return False
    return True


def _mutated(before, after, names) -> str:
    changed = [n for n, x, y in zip(names, before, after) if not _same_args([x], [y])]
    return ", ".join(changed)


def _call(f, args) -> float:
    with np.errstate(all="ignore"):
        return f(*args)


def fd_gradient(f, args, wrt, f0: float):
    """Richardson-extrapolated central differences at two step sizes, per wrt argument.

    Returns (gradients, consistent): consistent is False when the two extrapolations
    disagree (the function is not smooth within a step: a branch or trip count flips).
    """
    grads, consistent = [], True
    for j in wrt:
        x = args[j]
        flat = np.array(x, dtype=np.float64).ravel()
        g = np.empty(flat.size)
        for k in range(flat.size):
            def at(delta):
                trial = _copy(args)
                v = flat.copy()
                v[k] += delta
                trial[j] = v.reshape(np.shape(x)) if isinstance(x, np.ndarray) else float(v[0])
                return float(_call(f, trial))

            def richardson(h):
                d1 = (at(h) - at(-h)) / (2 * h)
                d2 = (at(h / 2) - at(-h / 2)) / h
                return (4 * d2 - d1) / 3
            r1, r2 = richardson(FD_STEPS[0]), richardson(FD_STEPS[1])
            if not (np.isfinite(r1) and np.isfinite(r2)) or abs(r1 - r2) > fd_tol(r2, f0):
                consistent = False
            g[k] = r2
        grads.append(g.reshape(np.shape(x)) if isinstance(x, np.ndarray) else float(g[0]))
    return grads, consistent


def fd_tol(ref, f0) -> float:
    """What central differences can resolve: truncation plus round-off (~eps |f| / h)."""
    return 1e-6 * max(1.0, abs(ref)) + 1e-11 * max(1.0, abs(f0))


def _close(got, want, rtol, floor=1.0) -> bool:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False
    return bool(np.all(np.abs(got - want) <= rtol * np.maximum(floor, np.abs(want))))


def _fmt(v) -> str:
    if isinstance(v, np.ndarray):
        return np.array2string(v, precision=10, separator=", ")
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    try:
        return repr(float(v))
    except (TypeError, ValueError):
        return repr(v)


def _exc_text(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    inner = [fr for fr in tb if "srcgrad" in fr.filename or "numba" in fr.filename]
    where = f" at {Path(inner[-1].filename).name}:{inner[-1].lineno} ({inner[-1].name})" if inner else ""
    first = str(exc).strip().split("\n")[0][:300]
    return f"{type(exc).__name__}{where}: {first}"


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds):
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def handler(signum, frame):
        raise _Timeout(f"no result after {seconds} s")
    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------- the check
def _stage(out: Outcome, stage: str, raw_kind: str, call):
    """``call()``'s result, or None after recording a refusal (a SrcgradError) or a
    failure (any other exception; a timeout propagates)."""
    try:
        return call()
    except srcgrad.SrcgradError as exc:
        out.refuse(stage, exc)
    except _Timeout:
        raise
    except Exception as exc:                 # noqa: BLE001
        out.fail(raw_kind, _exc_text(exc), exc)
    return None


def check(program, jit: bool = False, jvp: bool = True, record: bool = True) -> Outcome:
    out = Outcome()
    try:
        with _time_limit(TIMEOUT):
            _check(program, out, jit, jvp)
    except _Timeout as exc:
        out.fail("timeout", str(exc))
    if record:
        STATS.add(program, out)
    return out


def _check(program, out: Outcome, jit: bool, jvp: bool):
    names = [n for n, _ in program.params]
    wrt = program.wrt
    try:
        f = load(program.source, program.fname)
        args = program.args()
        ref = _call(f, args)
        ref = float(ref)
    except Exception as exc:                 # noqa: BLE001 - the generator's fault
        out.fail("invalid-program", f"Python itself raised {_exc_text(exc)}", exc)
        return
    if not _same_args(args, program.args()):
        out.fail("invalid-program", "the program writes into its own arguments")
        return
    if not np.isfinite(ref) or abs(ref) > HUGE:
        out.status, out.reason = "rejected", "value not finite or huge"
        return

    fd, smooth = fd_gradient(f, program.args(), wrt, ref)
    value = grads = py_result = None

    # 1, 2, 5: value_and_grad in Python
    args = program.args()
    result = _stage(out, "grad", "raw-exception", lambda: srcgrad.value_and_grad(f, wrt=wrt)(*args))
    if result is not None:
        value, grads = py_result = result
        if not _same_args(args, program.args()):
            out.fail("input-mutated", f"value_and_grad changed {_mutated(program.args(), args, names)}")
        if not _close(value, ref, VALUE_RTOL):
            out.fail("wrong-value", f"f(*args) = {ref!r} but value_and_grad gave {_fmt(value)}")
        bad = [names[j] for j, g in zip(wrt, grads)
               if np.shape(g) != np.shape(args[j]) or not np.all(np.isfinite(g))]
        if bad:
            out.fail("bad-gradient-type", f"gradient of {bad} is {_fmt(grads)}")
            grads = None
        elif smooth:
            out.fd_checked = True
            wrong = [names[j] for j, g, r, in zip(wrt, grads, fd) if not _grad_close(g, r, ref)]
            if wrong:
                out.fail("wrong-gradient",
                         f"d/d{','.join(wrong)}: central differences give {_fmt(fd)} "
                         f"but srcgrad gave {_fmt(grads)}")
                grads = None

    # 4, 5: jvp
    if jvp:
        _check_jvp(program, f, ref, grads, fd if smooth else None, out)

    # 3, 5: jit
    if jit:
        _check_jit(program, f, ref, py_result, fd if smooth else None, out)


def _grad_close(g, r, f0) -> bool:
    g, r = np.asarray(g, dtype=np.float64), np.asarray(r, dtype=np.float64)
    tol = np.array([fd_tol(v, f0) for v in r.ravel()]).reshape(r.shape)
    return bool(np.all(np.abs(g - r) <= 10 * tol + FD_RTOL * np.abs(r)))


def _tangents(program):
    rng = np.random.default_rng(int(program.digest, 16) % (2 ** 32))
    out = []
    for (_, t), a in zip(program.params, program.args()):
        if t == "i":
            out.append(0)
        elif isinstance(a, np.ndarray):
            out.append(rng.uniform(-1, 1, size=a.shape))
        else:
            out.append(float(rng.uniform(-1, 1)))
    return out


def _check_jvp(program, f, ref, grads, fd, out: Outcome):
    names = [n for n, _ in program.params]
    tangents = _tangents(program)
    args = program.args()
    result = _stage(out, "jvp", "jvp-raw-exception", lambda: srcgrad.jvp(
        f, args, [t.copy() if isinstance(t, np.ndarray) else t for t in tangents]))
    if result is None:
        return
    value, tangent = result
    if not _same_args(args, program.args()):
        out.fail("jvp-input-mutated", f"jvp changed {_mutated(program.args(), args, names)}")
    if not _close(value, ref, VALUE_RTOL):
        out.fail("jvp-wrong-value", f"f(*args) = {ref!r} but jvp gave {_fmt(value)}")
    wrt = program.wrt
    if grads is not None:
        terms = [np.sum(np.asarray(g) * tangents[j]) for j, g in zip(wrt, grads)]
        want = float(sum(terms))
        scale = sum(float(np.sum(np.abs(np.asarray(g) * tangents[j]))) for j, g in zip(wrt, grads))
        ok = abs(float(tangent) - want) <= AD_RTOL * max(1.0, scale)
        against = "dot(gradient, tangent)"
    elif fd is not None:
        want = float(sum(np.sum(np.asarray(r) * tangents[j]) for j, r in zip(wrt, fd)))
        ok = abs(float(tangent) - want) <= 10 * fd_tol(want, ref) + FD_RTOL * abs(want) + 1e-6
        against = "central differences along the tangent"
    else:
        return
    if not ok:
        out.fail("jvp-wrong-tangent", f"tangents {_fmt(tangents)}: {against} = {want!r} but jvp gave "
                                      f"{_fmt(tangent)}")


def _check_jit(program, f, ref, py_result, fd, out: Outcome):
    """jit=True against jit=False (right or wrong, they must agree); when jit=False gave
    nothing (refused or crashed), against Python and central differences instead."""
    names = [n for n, _ in program.params]
    args = program.args()
    result = _stage(out, "jit", "jit-raw-exception",
                    lambda: srcgrad.value_and_grad(f, wrt=program.wrt, jit=True)(*args))
    if result is None:
        return
    jvalue, jgrads = result
    if not _same_args(args, program.args()):
        out.fail("jit-input-mutated", f"jit value_and_grad changed {_mutated(program.args(), args, names)}")
    if py_result is not None:
        value, grads = py_result
        if not _close(jvalue, value, JIT_RTOL):
            out.fail("jit-mismatch", f"jit=False value {_fmt(value)} but jit=True gave {_fmt(jvalue)}")
        elif not all(_close(jg, g, JIT_RTOL) for jg, g in zip(jgrads, grads)):
            out.fail("jit-mismatch", f"jit=False gradient {_fmt(grads)} but jit=True gave {_fmt(jgrads)}")
        return
    if not _close(jvalue, ref, VALUE_RTOL):
        out.fail("jit-wrong-value", f"f(*args) = {ref!r} but jit gave {_fmt(jvalue)}")
    elif fd is not None and not all(_grad_close(jg, r, ref) for jg, r in zip(jgrads, fd)):
        out.fail("jit-wrong-gradient", f"central differences {_fmt(fd)} but jit=True gave {_fmt(jgrads)}")


# --------------------------------------------------------------------------- failing loudly
class FuzzFailure(AssertionError):
    """Base class of the per-kind exceptions below (one class per FAIL_KINDS entry)."""


FAILURE_CLASSES = {kind: type("Fuzz_" + kind.replace("-", "_"), (FuzzFailure,), {"kind": kind})
                   for kind in FAIL_KINDS}


def raise_for(program, outcome: Outcome):
    """Raise for the first failure, by kind: Hypothesis shrinks each kind on its own, and
    a raw exception keeps its original as ``__cause__`` (a separate origin per location)."""
    if outcome.status != "fail":
        return
    first = outcome.failures[0]
    text = "\n".join(str(f) for f in outcome.failures)
    message = f"{text}\n{program.source}# args: {program.call_text()}"
    raise FAILURE_CLASSES[first.kind](message) from first.exc
