"""Derivative rules for NumPy's shape, indexing, reduction, product and integration
functions beyond the core ones of ``srcgrad/rules/numpy.py`` (moveaxis, roll, pad, take,
einsum, trapezoid...).

Same conventions as ``srcgrad/rules/numpy.py``.  A function Numba cannot compile gets a
Numba twin (``srcgrad.runtime.twins``) so that it runs under ``jit=True``, or declares
``no_jit`` with the reason.
"""
