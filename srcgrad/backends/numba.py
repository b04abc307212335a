"""The Numba backend: compile the generated adjoint with ``numba.njit``, text unchanged.

The generated code calls small runtime helpers (``unbroadcast``, ``zeros_like``, typed
stack constructors...).  Each has a Numba implementation, its *twin*, written beside it
in ``srcgrad/runtime/`` (and ``custom.py``, ``rules/casts.py``) and recorded with
``runtime.twins.numba_twin``; importing this module applies
``numba.extending.overload`` to every twin, on the very same Python function, so the
namespace and the source stay identical between plain Python and jit mode.  Numba picks
the implementation by argument types at compile time, and scalars pay nothing.

Here: the overloads of NumPy functions Numba lacks or lacks an argument of, the njit
compilation of a derivative, and the translation of Numba's errors to the user's line.
"""

from __future__ import annotations

import dataclasses
import inspect
import linecache
import re
import warnings

import numba
import numpy as np
from numba import types
from numba.core.errors import NumbaError, NumbaPerformanceWarning
from numba.extending import overload

from srcgrad import calls, custom, ir
from srcgrad import rules as _rules  # noqa: F401  (rules/casts.py records twins)
from srcgrad.backends import cache as disk
from srcgrad.errors import SrcgradError
from srcgrad.rules.registry import facts
from srcgrad.runtime import broadcast, lists, numpy_helpers, tape, twins  # noqa: F401

# Numba's layout hints ("'@' is faster on contiguous arrays") about generated code are
# nothing its user can act on: they are kept quiet for srcgrad's own modules only.
warnings.filterwarnings("ignore", category=NumbaPerformanceWarning, module="<srcgrad")


def _apply_twin(helper, impl, options) -> None:
    overload(helper, **options)(impl)


twins.apply_twins(_apply_twin)      # every helper's twin, and any recorded later


# ----------------------------------------------------------------------- NumPy gaps
@overload(np.array)
def _np_array_of_array(object, dtype=None):
    """``np.array(a)`` of an array is a copy (the documented way to own an array); Numba
    itself only builds arrays from numbers, lists and tuples."""
    if isinstance(object, types.Array) and twins.no_axis(dtype):
        return lambda object, dtype=None: object.copy()
    return None


@overload(np.ndim)
def _np_ndim(x):
    ndim = x.ndim if isinstance(x, types.Array) else 0
    return lambda x: ndim


@overload(np.size)
def _np_size(x):
    if isinstance(x, types.Array):
        return lambda x: x.size
    return lambda x: 1



@overload(np.trace)
def _np_trace_axes(a, offset=0, axis1=0, axis2=1):
    """``np.trace`` with its axes spelled out (the tangent rule passes them) for a matrix;
    Numba's own takes only ``offset``."""
    if not (isinstance(a, types.Array) and a.ndim == 2) or isinstance(axis1, types.Omitted):
        return None

    def impl(a, offset=0, axis1=0, axis2=1):
        m = a.T if axis1 % 2 == 1 else a
        total = np.zeros(1, a.dtype)[0]
        for i in range(m.shape[0]):
            j = i + offset
            if 0 <= j < m.shape[1]:
                total += m[i, j]
        return total
    return impl


# ----------------------------------------------------------------------- compile
@dataclasses.dataclass
class _Jitted:
    """A compiled derivative: same fields as pipeline.Compiled, ``function`` is the dispatcher."""

    ir: object
    source: str
    function: object
    params: list


def _refuse_python_objects(fn_ir, locations=None):
    """srcgrad.Function keeps Python objects in ``ctx``: it cannot run in nopython mode;
    neither can a primitive declaring ``no_jit`` (refused at the user's line, also when
    the statement belongs to a generated gradient differentiated again)."""
    for stmt in ir.walk(fn_ir.body):
        if isinstance(stmt, ir.Call) and isinstance(stmt.fn, calls.CalleePrimitive):
            raise SrcgradError(
                f"the recursive call of '{stmt.fn.__name__}' cannot be compiled with jit=True: "
                f"calls of your own functions are lowered in place, and a recursive one cannot "
                f"be (without jit its own adjoint runs at each level). Use jit=False, write the "
                f"recursion as a loop, or register an njit-compatible rule with srcgrad.defvjp",
                stmt.loc, "jit")
        reason = isinstance(stmt, ir.Call) and facts(stmt.fn).no_jit
        if reason:
            loc = stmt.loc
            if loc is not None and str(loc.file).startswith("<srcgrad"):
                loc = (locations or {}).get(stmt.target) or fn_ir.loc
            raise SrcgradError(f"{facts(stmt.fn).name} cannot run under jit=True: {reason}. "
                               f"Use jit=False for this function", loc, "jit")
        if isinstance(stmt, ir.Call) and isinstance(stmt.fn, custom.FunctionPrimitive):
            raise SrcgradError(
                f"{stmt.fn.cls.__name__} is a srcgrad.Function: its ctx holds Python objects, "
                f"which Numba's nopython mode cannot compile. Use jit=False, or register an "
                f"njit-compatible rule with srcgrad.defvjp", stmt.loc, "jit")


def jitted(compiled):
    """The njit-compiled version of a generated adjoint (cached on ``compiled``)."""
    cached = getattr(compiled, "_numba", None)
    if cached is None:
        _refuse_python_objects(compiled.ir, compiled.locations)
        guarded = _Guarded(numba.njit(compiled.function), compiled.ir.name, compiled.ir.loc,
                           compiled.locations)
        cached = _Jitted(compiled.ir, compiled.source, guarded, compiled.params)
        compiled._numba = cached
    return cached


def jitted_cached(function, compiled, loc):
    """A derivative imported from the disk cache, compiled with Numba's own disk cache.

    Numba's cache files are checksummed (``cache.guard_numba_cache``); if Numba finds no
    place to keep them, the derivative is compiled in memory instead.
    """
    source = compiled.source if compiled is not None else inspect.getsource(function)
    try:
        dispatcher = numba.njit(cache=True)(function)
        disk.guard_numba_cache(dispatcher)
    except Exception as exc:             # noqa: BLE001  no usable cache location
        disk._warn(f"Numba cannot cache {function.__name__} ({exc}); compiling in memory")
        dispatcher = numba.njit(function)
    guarded = _Guarded(dispatcher, function.__name__, loc)
    return _Jitted(getattr(compiled, "ir", None), source, guarded, None)


class _Guarded:
    """Calls the dispatcher, turning Numba's compile failures into a located SrcgradError."""

    def __init__(self, dispatcher, name, loc, locations=None):
        self.dispatcher = dispatcher
        self.name = name
        self.loc = loc
        self.locations = locations or {}

    def __call__(self, *args):
        try:
            return self.dispatcher(*args)
        except NumbaError as exc:
            reason, line = _numba_reason(str(exc))
            names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", line or "")
            loc = next((self.locations[n] for n in names if n in self.locations), self.loc)
            raise SrcgradError(
                f"Numba could not compile the derivative of '{self.name}' in nopython mode: "
                f"{reason}. Use jit=False, or see srcgrad.show() for the generated code",
                loc, "jit") from exc
        except AssertionError as exc:        # an assertion of Numba's own type inference
            if not _raised_by_numba(exc):
                raise
            raise SrcgradError(
                f"Numba could not compile the derivative of '{self.name}' in nopython mode "
                f"(its type inference rejected a call's arguments). Use jit=False, or see "
                f"srcgrad.show() for the generated code", self.loc, "jit") from exc
        except NotImplementedError as exc:   # Numba's run-time "not supported here"
            if isinstance(exc, SrcgradError):  # a rule's own refusal (UnsupportedDerivativeError)
                raise
            raise SrcgradError(
                f"Numba does not support an operation in the derivative of '{self.name}' for "
                f"these arguments: {exc}. Use jit=False", self.loc, "jit") from exc


def _raised_by_numba(exc) -> bool:
    """Whether the exception was raised inside Numba's compiler (not by compiled code)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "numba" in tb.tb_frame.f_code.co_filename


def _numba_reason(message: str) -> tuple[str, str | None]:
    """The informative part of a Numba error and the generated line it points at."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", message)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    reason = next((ln for ln in lines[1:] if not ln.startswith(("During:", "File", "def ", "<source"))),
                  lines[0] if lines else "unknown error")
    where = [ln for ln in lines if ln.startswith('File "<srcgrad')]
    code = None
    if where:
        match = re.search(r'File "([^"]+)", line (\d+)', where[-1])
        if match:
            code = linecache.getline(match.group(1), int(match.group(2))).strip()
            reason += f" (generated line {match.group(2)}: {code})"
    return reason, code


# ----------------------------------------------------------------------- np.matmul
# Numba types np.matmul as a ufunc and rewrites its calls on arrays into elementwise
# array expressions, which cannot multiply matrices.  Before typing, this rewrite points
# every np.matmul a function reads at linalg_helpers.numba_matmul (whose twin does).
from numba.core import ir as _nir  # noqa: E402
from numba.core.ir_utils import get_definition as _definition, guard as _guard  # noqa: E402
from numba.core.rewrites import Rewrite as _Rewrite, register_rewrite as _register_rewrite  # noqa: E402

from srcgrad.runtime.linalg_helpers import numba_matmul as _numba_matmul  # noqa: E402


def _is_np_matmul(func_ir, value) -> bool:
    if isinstance(value, (_nir.Global, _nir.FreeVar)):
        return value.value is np.matmul
    if isinstance(value, _nir.Expr) and value.op == "getattr" and value.attr == "matmul":
        base = _guard(_definition, func_ir, value.value)
        return isinstance(base, (_nir.Global, _nir.FreeVar)) and base.value is np
    return False


@_register_rewrite("before-inference")
class _MatmulAsMatrixProduct(_Rewrite):
    def match(self, func_ir, block, typemap, calltypes):
        self.block = block
        self.hits = [s for s in block.find_insts(_nir.Assign) if _is_np_matmul(func_ir, s.value)]
        return bool(self.hits)

    def apply(self):
        new = self.block.copy()
        new.body = [_nir.Assign(_nir.Global("numba_matmul", _numba_matmul, s.loc), s.target, s.loc)
                    if s in self.hits else s for s in new.body]
        return new
