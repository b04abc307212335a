"""srcgrad: source-transformation automatic differentiation for Python and NumPy.

``srcgrad.grad(f)`` reads ``f``'s source, lowers it to a small SSA IR and emits an
explicit adjoint function as readable Python; ``srcgrad.show`` prints it.
"""

from srcgrad import rules as _rules  # noqa: F401  (registers the built-in rules)
from srcgrad.api import (grad, hessian, hvp, jacfwd, jacobian, jvp, show, value_and_grad,
                         vjp)
from srcgrad.check import GradcheckError, gradcheck
from srcgrad.custom import Function, stop_gradient
from srcgrad.errors import SrcgradError
from srcgrad.rules.registry import defjvp
from srcgrad.rules.registry import public_defvjp as defvjp

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "jacfwd", "hessian", "hvp", "show",
           "defvjp", "defjvp", "Function", "stop_gradient", "gradcheck", "GradcheckError",
           "SrcgradError"]
__version__ = "0.1.0"
