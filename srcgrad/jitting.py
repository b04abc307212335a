"""The numba pass: a generated derivative compiled with ``numba.njit``, in memory or
through the disk cache (``cache=True``).  Kept apart from the pipeline because only
``jit=True`` reaches it, and it is the one place that imports the Numba backend.
"""

from __future__ import annotations

from srcgrad import pytree
from srcgrad.errors import SrcgradError
from srcgrad.pipeline import LOCK, Transformed, base_name, run_pass


def numba_caches(fn) -> bool:
    """A Numba dispatcher created with ``cache=True`` gets a disk-cached derivative too."""
    cache = getattr(fn, "_cache", None)
    return cache is not None and type(cache).__name__ != "NullCache"


def jit(compiled):
    """The numba pass on one compiled derivative (jit=True needs Numba)."""
    try:
        from srcgrad.backends import numba as numba_backend
    except ImportError:
        raise SrcgradError("jit=True needs Numba: pip install 'srcgrad[jit]'", construct="jit") from None
    return run_pass("numba", numba_backend.jitted, compiled)


def jit_compile(t: Transformed, kinds, wrt, cache: bool, trees=None, has_aux=False):
    """The Numba-compiled derivative, from the disk cache when ``cache`` is set.

    A disk entry is looked up by a key covering the globals' values (``cache.key``); a
    missing or damaged one is generated again, and a derivative that cannot be kept on
    disk is compiled in memory.
    """
    key = (kinds, wrt, trees, has_aux)
    result = t.jitted.get(key)
    if result is not None:
        return result
    with LOCK:
        result = t.jitted.get(key)
        if result is None:
            result = t.jitted[key] = _jit_build(t, kinds, wrt, cache, trees, has_aux)
    return result


def _jit_build(t: Transformed, kinds, wrt, cache: bool, trees, has_aux):
    if not cache or any(pytree.passes_function(tree) for tree in trees or ()):
        # a function passed as an argument has no name that is stable across processes
        return jit(t.compile(kinds, wrt, trees, has_aux, jit=True))
    from srcgrad.backends import cache as disk
    specialization = kinds if trees is None and not has_aux else (kinds, trees, has_aux)
    digest = disk.key(t.fn, specialization, wrt)
    if digest is None:                   # reads a value with no fingerprint: in memory
        return jit(t.compile(kinds, wrt, trees, has_aux, jit=True))
    name = f"{base_name(t.fn)}_vjp"
    module = disk.load(digest)
    compiled = None
    if module is None or not callable(getattr(module, name, None)):
        compiled = t.compile(kinds, wrt, trees, has_aux, jit=True)
        module = disk.store(digest, compiled.source, compiled.namespace, compiled.name)
    if module is None:                   # not importable by name or no cache: in memory
        return jit(compiled)
    from srcgrad.backends import numba as numba_backend
    return run_pass("numba", numba_backend.jitted_cached, getattr(module, name), compiled,
                    t.parsed.loc(t.parsed.node))
