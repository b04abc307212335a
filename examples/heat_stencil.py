"""An explicit heat equation with an in-place stencil and a buffer swap, differentiated.

Run: python examples/heat_stencil.py
"""

import numpy as np

import srcgrad


def heat(u0, a):
    u = u0.copy()
    v = np.zeros_like(u0)
    n = len(u0)
    for step in range(50):
        for i in range(1, n - 1):
            v[i] = u[i] + a * (u[i - 1] - 2 * u[i] + u[i + 1])
        u, v = v, u
    return np.sum(u ** 2)


if __name__ == "__main__":
    u0 = np.sin(np.linspace(0.0, np.pi, 20))
    du0, da = srcgrad.grad(heat, wrt=(0, 1))(u0, 0.2)
    eps = 1e-6
    numeric = (heat(u0, 0.2 + eps) - heat(u0, 0.2 - eps)) / (2 * eps)
    print(f"d heat / d a = {da:.8f}   (central difference {numeric:.8f})")
    print("d heat / d u0 =", np.round(du0, 4))
    print()
    srcgrad.show(srcgrad.grad(heat, wrt=(0, 1)))
