"""LIME: low-light enhancement via illumination map estimation (Guo, Li & Ling, TIP 2017).

1. Initial illumination: T_hat(x) = max_c L_c(x) (max-RGB).
2. Structure-aware refinement with the paper's sped-up solver: the l1 smoothness term is
   approximated by a weighted l2 one, which turns the problem into one sparse linear system

       (I + sum_{d in {h, v}} D_d^T diag(w_d) D_d) t = t_hat,
       w_d = alpha * W_d / (|grad_d T_hat| + eps),

   with D_d forward differences (Neumann boundary: no difference across the image border) and
   the weighting strategy W_d of the paper:
   I:   W_d = 1;
   II:  W_d = 1 / (|grad_d T_hat| + eps)                            (default);
   III: W_d = (G_sigma * 1) / (|G_sigma * grad_d T_hat| + eps), Gaussian-smoothed gradients.
   The system is symmetric positive definite; it is solved exactly by a direct method:
   ``solver="cholesky"`` (default): a multifrontal Cholesky factorisation in nested-dissection
   order for the pixel grid (enhancers/grid_cholesky.py, dense LAPACK/BLAS kernels, no extra
   dependency); ``solver="superlu"``: SciPy's SuperLU (spsolve with minimum-degree ordering on
   A^T + A), the general sparse LU this module used first, 2-2.5x slower at 1280x720 and kept
   to check the other against. The two agree to ~1e-11 (the system's condition number, up to
   ~1e6, times double rounding), which leaves the 8-bit output unchanged
   (tests/test_enhancers_lime_msrcr_speed.py; docs/results/lime_msrcr_speed.py on a real frame).
   Iterative solvers are not offered: the weights span ~6 orders of magnitude, and Jacobi- or
   ILU-preconditioned conjugate gradients took minutes; algebraic multigrid (pyamg) with
   conjugate gradients took 2-8x SuperLU's time at tolerances 1e-10 to 1e-12.
3. Enhancement: R = L / T^gamma per channel, gamma = 0.8 by default, with T clipped to
   [T_FLOOR, 1] so that black pixels do not divide by zero.
4. Optional denoising (off by default; the paper uses BM3D, which we do not depend on): total-
   variation denoising (skimage ``denoise_tv_chambolle``) of R, recombined as the paper does,
   R_f = R * T + R_d * (1 - T), so that dark, noisy regions get the denoised values.

Defaults: alpha = 0.15, gamma = 0.8, eps = 1e-3 (guards the divisions), sigma = 2 (strategy
III only). Note a property of the formulation, not of this code: with strategies II/III the
smoothness term is invariant to the image's intensity scale while the data term shrinks with it,
so the darker the input, the smoother the refined map (the sum of T is preserved exactly, since
the system matrix is I plus a graph Laplacian).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from scipy.ndimage import gaussian_filter
from scipy.sparse.linalg import spsolve
from skimage.restoration import denoise_tv_chambolle

from enhancers.base import Method, resolve_host_device, with_defaults
from enhancers.grid_cholesky import GridCholesky

if TYPE_CHECKING:
    import torch  # annotations only: numpy methods run without torch

T_FLOOR = 1e-3
SOLVERS = ("cholesky", "superlu")  # see the module docstring


def forward_gradients(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical forward differences, zero across the last column / row."""
    gh = np.zeros_like(t)
    gv = np.zeros_like(t)
    gh[:, :-1] = t[:, 1:] - t[:, :-1]
    gv[:-1, :] = t[1:, :] - t[:-1, :]
    return gh, gv


def smoothness_weights(
    t_hat: np.ndarray, alpha: float, eps: float, strategy: int, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-edge weights w_h, w_v of the sped-up LIME system (see the module docstring)."""
    gh, gv = forward_gradients(t_hat)
    out = []
    for g in (gh, gv):
        if strategy == 1:
            big_w = np.ones_like(g)
        elif strategy == 2:
            big_w = 1.0 / (np.abs(g) + eps)
        elif strategy == 3:
            num = gaussian_filter(np.ones_like(g), sigma, mode="reflect")
            big_w = num / (np.abs(gaussian_filter(g, sigma, mode="reflect")) + eps)
        else:
            raise ValueError(f"lime: strategy must be 1, 2 or 3, got {strategy}")
        out.append(alpha * big_w / (np.abs(g) + eps))
    w_h, w_v = out
    w_h[:, -1] = 0.0  # no edge beyond the right border
    w_v[-1, :] = 0.0  # nor below the bottom one
    return w_h, w_v


def lime_system(w_h: np.ndarray, w_v: np.ndarray) -> sp.csc_matrix:
    """Sparse matrix ``I + D_h^T diag(w_h) D_h + D_v^T diag(w_v) D_v`` (row-major pixels)."""
    h, w = w_h.shape
    n = h * w
    wh = w_h.ravel()
    wv = w_v.ravel()
    diag = np.ones(n)
    diag += wh  # edge (p, p+1) contributes w to both ends
    diag[1:] += wh[:-1]
    diag += wv  # edge (p, p+w)
    diag[w:] += wv[:-w]
    a = sp.diags(
        [diag, -wh[:-1], -wh[:-1], -wv[:-w], -wv[:-w]],
        [0, 1, -1, w, -w],
        shape=(n, n),
        format="csc",
    )
    return a


def refine_illumination(
    t_hat: np.ndarray, alpha: float, eps: float, strategy: int, sigma: float, solver: str
) -> np.ndarray:
    """Structure-aware smoothing of the initial illumination map ``t_hat`` (H x W)."""
    if solver not in SOLVERS:
        raise ValueError(f"lime: solver must be one of {SOLVERS}, got {solver!r}")
    t_hat = np.asarray(t_hat, dtype=np.float64)
    w_h, w_v = smoothness_weights(t_hat, alpha, eps, strategy, sigma)
    a = lime_system(w_h, w_v)
    b = t_hat.ravel()
    if solver == "cholesky":
        t = GridCholesky(a, *t_hat.shape).solve(b)
    else:
        t = spsolve(a, b, permc_spec="MMD_AT_PLUS_A")
    return np.asarray(t, dtype=np.float64).reshape(t_hat.shape)


def lime_enhance(image: np.ndarray, **options: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Enhance an ``H x W x 3`` float image; returns (enhanced, T_hat, refined T).

    ``options`` are :class:`LIME`'s keyword options (alpha, gamma, eps, strategy, sigma, denoise,
    denoise_weight, solver); the others take the defaults of its constructor, the one place
    they are written."""
    opts = with_defaults(LIME, options)
    alpha, gamma, eps = opts["alpha"], opts["gamma"], opts["eps"]
    strategy, sigma, solver = opts["strategy"], opts["sigma"], opts["solver"]
    denoise, denoise_weight = opts["denoise"], opts["denoise_weight"]
    img = np.asarray(image, dtype=np.float64)
    t_hat = img.max(axis=2)
    t = refine_illumination(t_hat, alpha, eps, strategy, sigma, solver)
    t_used = np.clip(t, T_FLOOR, 1.0) ** gamma
    r = np.clip(img / t_used[..., None], 0.0, 1.0)
    if denoise:
        r_d = denoise_tv_chambolle(r, weight=denoise_weight, channel_axis=-1)
        t3 = np.clip(t, 0.0, 1.0)[..., None]
        r = r * t3 + r_d * (1.0 - t3)
    return r.astype(np.float32), t_hat, t


class LIME(Method):
    """LIME with the exact sparse solve of the sped-up formulation (CPU, SciPy)."""

    name = "lime"
    paper = "Guo, Li & Ling, LIME: Low-Light Image Enhancement via Illumination Map Estimation, IEEE TIP 2017"
    description = (
        "Max-RGB illumination refined by the sped-up structure-aware solver (sparse "
        "linear system), R = L / T^gamma; optional TV denoising."
    )

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: str | None = None,
        *,
        alpha: float = 0.15,
        gamma: float = 0.8,
        eps: float = 1e-3,
        strategy: int = 2,
        sigma: float = 2.0,
        denoise: bool = False,
        denoise_weight: float = 0.05,
        solver: str = "cholesky",
    ) -> None:
        opts = {
            "alpha": float(alpha),
            "gamma": float(gamma),
            "eps": float(eps),
            "strategy": int(strategy),
            "sigma": float(sigma),
            "denoise": bool(denoise),
            "denoise_weight": float(denoise_weight),
            "solver": str(solver),
        }
        if opts["alpha"] <= 0 or opts["gamma"] <= 0 or opts["eps"] <= 0 or opts["sigma"] <= 0:
            raise ValueError(f"lime: alpha, gamma, eps and sigma must be > 0, got {opts}")
        if opts["strategy"] not in (1, 2, 3):
            raise ValueError(f"lime: strategy must be 1, 2 or 3, got {strategy}")
        if opts["solver"] not in SOLVERS:
            raise ValueError(f"lime: solver must be one of {SOLVERS}, got {solver!r}")
        self.opts = opts
        super().__init__(self.describe(**opts), resolve_host_device(device))

    def _enhance_numpy(self, image: np.ndarray, name: str | None) -> np.ndarray:
        return lime_enhance(image, **self.opts)[0]
