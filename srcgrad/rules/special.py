"""Derivative rules for special functions: ``scipy.special``, the special functions of
``math`` (lgamma, gamma, erfc...) and NumPy's remaining elementwise ufuncs.

Same conventions as ``srcgrad/rules/numpy.py``.  A library function Numba cannot compile
gets a Numba twin (``srcgrad.runtime.twins``) so that it runs under ``jit=True``, or
declares ``no_jit`` with the reason.
"""
