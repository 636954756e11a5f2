"""Exact sparse direct solve of a symmetric positive definite system on an image grid.

LIME's illumination refinement (enhancers/lime.py) solves ``A t = b`` where ``A`` is the identity
plus a weighted graph Laplacian of the 4-neighbour pixel grid: one unknown per pixel, about a
million at 1280x720. A general sparse LU (SciPy's SuperLU) spends most of its time in sparse,
vector-at-a-time kernels and does twice the arithmetic a symmetric factorisation needs. On a
grid the best elimination order is known in advance: geometric nested dissection (George 1973).
The image is cut in two by a line of pixels (the separator), each half is cut again, and so on
down to blocks of at most ``LEAF_PIXELS``; a separator is eliminated after both its halves. That
order drives a multifrontal Cholesky factorisation (Duff & Reid 1983): each node of the
dissection tree owns a dense "front" (its separator, or a whole leaf block, plus the pixels
around its block), factorised with LAPACK ``potrf`` and ``trsm``; the Schur complement on the
surrounding pixels (the "update", one BLAS-3 ``syrk``) is added into its parent's front.

The result is an exact direct solve (no tolerance, no iteration): it agrees with SuperLU to the
system's condition number times double rounding (~1e-11 on LIME's maps), and LIME with it takes
0.39-0.45x of its time with SuperLU on a 1280x720 frame (docs/results/README.md). What is left
is mostly the memory traffic of the updates and Python's per-front cost (16,383 fronts at
1280x720); batching the small fronts in NumPy stacks (block elimination with stacked
``inv``/``matmul``) was tried and was no faster.
Only the structure of a 4-neighbour grid is supported: entries ``A[p, q]`` with ``q`` = ``p`` or
one of its left, right, upper or lower neighbours (row-major pixel numbering), which is what
:func:`enhancers.lime.lime_system` builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.linalg import solve_triangular
from scipy.linalg.blas import dsyrk, dtrsm
from scipy.linalg.lapack import dpotrf

# Blocks of at most this many pixels are not cut further: a dense factorisation of a leaf costs
# less than the Python bookkeeping of more, smaller fronts (measured: 128 beat 32, 64 and 256).
LEAF_PIXELS = 128


@dataclass
class _Front:
    """One node of the dissection tree: the pixels it eliminates (``own``), the pixels around its
    block that its ancestors eliminate (``border``), its children and its factor blocks."""

    own: np.ndarray
    border: np.ndarray
    children: list[int] = field(default_factory=list)
    l11: np.ndarray | None = None  # lower-triangular factor of the own x own block
    l21: np.ndarray | None = None  # border x own block of the factor


def _dissection(height: int, width: int, leaf: int) -> list[_Front]:
    """Fronts of the nested dissection of a ``height x width`` grid, children before parents."""
    index = np.arange(height * width).reshape(height, width)
    fronts: list[_Front] = []
    done: list[int] = []  # roots of the finished subtrees not yet claimed by a parent

    def border(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        parts = []
        if r0 > 0:
            parts.append(index[r0 - 1, c0:c1])
        if r1 < height:
            parts.append(index[r1, c0:c1])
        if c0 > 0:
            parts.append(index[r0:r1, c0 - 1])
        if c1 < width:
            parts.append(index[r0:r1, c1])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    # An explicit stack instead of recursion: a block is visited before and after its halves.
    stack: list[tuple[int, int, int, int, bool]] = [(0, height, 0, width, False)]
    while stack:
        r0, r1, c0, c1, expanded = stack.pop()
        rows, cols = r1 - r0, c1 - c0
        if rows <= 0 or cols <= 0:
            continue
        if rows * cols <= leaf or max(rows, cols) < 3:
            done.append(len(fronts))
            fronts.append(_Front(index[r0:r1, c0:c1].ravel(), border(r0, r1, c0, c1)))
            continue
        if cols >= rows:  # cut the longer side: the separator spans the shorter one
            m = c0 + cols // 2
            own = index[r0:r1, m]
            halves = [(r0, r1, c0, m), (r0, r1, m + 1, c1)]
        else:
            m = r0 + rows // 2
            own = index[m, c0:c1]
            halves = [(r0, m, c0, c1), (m + 1, r1, c0, c1)]
        if expanded:
            count = sum(1 for a, b, c, d in halves if a < b and c < d)
            children = done[len(done) - count :]
            del done[len(done) - count :]
            done.append(len(fronts))
            fronts.append(_Front(own.copy(), border(r0, r1, c0, c1), children))
        else:
            stack.append((r0, r1, c0, c1, True))
            stack.extend((*half, False) for half in reversed(halves))
    return fronts


def _runs(pos: np.ndarray, k: int) -> list[tuple[int, int, int, bool]]:
    """Split ascending front positions into contiguous runs that stay on one side of ``k``:
    ``(start, stop, first position, in the border block)``."""
    cuts = np.flatnonzero((np.diff(pos) != 1) | (pos[1:] == k)) + 1
    edges = [0, *cuts.tolist(), pos.size]
    return [(a, b, int(pos[a]), bool(pos[a] >= k)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _extend_add(update: np.ndarray, pos: np.ndarray, k: int, f11: np.ndarray, f21: np.ndarray,
                f22: np.ndarray) -> None:
    """Add a child's update (its lower triangle, at front positions ``pos``) into its parent.
    The child's border is a few straight segments of its parent's separator and border, each a
    run of consecutive positions, so this is a few dense block additions."""
    if pos.size == 0:
        return
    runs = _runs(pos, k)
    for i, (ra, rb, rpos, r_border) in enumerate(runs):
        for ca, cb, cpos, c_border in runs[: i + 1]:
            block = update[ra:rb, ca:cb]
            if not r_border:
                f11[rpos : rpos + rb - ra, cpos : cpos + cb - ca] += block
            elif not c_border:
                f21[rpos - k : rpos - k + rb - ra, cpos : cpos + cb - ca] += block
            else:
                f22[rpos - k : rpos - k + rb - ra, cpos - k : cpos - k + cb - ca] += block


class GridCholesky:
    """Cholesky factorisation ``A = L L^T`` of an SPD matrix on a ``height x width`` 4-neighbour
    grid in nested-dissection order; :meth:`solve` then costs two triangular sweeps.

    Raises ``numpy.linalg.LinAlgError`` when ``A`` is not positive definite and ``ValueError``
    when it is not ``(height * width)`` square or has entries outside the grid's stencil.
    """

    def __init__(self, a: sp.spmatrix | sp.sparray, height: int, width: int,
                 leaf: int = LEAF_PIXELS) -> None:
        n = height * width
        a = sp.csr_matrix(a)
        if a.shape != (n, n):
            raise ValueError(f"grid Cholesky: matrix is {a.shape}, expected {(n, n)} for a {height}x{width} grid")
        a.sum_duplicates()
        rows = np.repeat(np.arange(n), np.diff(a.indptr))
        step = np.abs(a.indices - rows)
        same_row = rows // width == a.indices // width
        if not ((step == 0) | ((step == 1) & same_row) | (step == width)).all():
            raise ValueError("grid Cholesky: the matrix has entries outside the 4-neighbour stencil")
        self.n = n
        self.fronts = _dissection(height, width, leaf)
        rank = np.empty(n, dtype=np.int64)  # elimination position of every pixel
        start = 0
        for front in self.fronts:
            rank[front.own] = np.arange(start, start + front.own.size)
            start += front.own.size
        if start != n:
            raise RuntimeError(f"grid Cholesky: dissection covers {start} of {n} pixels")
        for front in self.fronts:  # a front's pixels in elimination order: own, then border
            front.border = front.border[np.argsort(rank[front.border])]
        self._factorise(a, rank)

    def _factorise(self, a: sp.csr_matrix, rank: np.ndarray) -> None:
        """Fronts in postorder, lower triangles only: each front's pixels are in elimination
        order, so a child's update lands in its parent's lower triangle."""
        # Every entry A[p, q] belongs to the front that eliminates the earlier of p and q, in
        # its lower triangle: row = the later pixel, column = the earlier one.
        rows = np.repeat(np.arange(self.n), np.diff(a.indptr))
        cols = a.indices
        keep = rank[cols] >= rank[rows]
        first, later, vals = rows[keep], cols[keep], a.data[keep]
        order = np.argsort(rank[first], kind="stable")
        first, later, vals = first[order], later[order], vals[order]
        bounds = np.searchsorted(rank[first], np.cumsum([0] + [f.own.size for f in self.fronts]))
        updates: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # child -> (border, update)
        local = np.full(self.n, -1, dtype=np.int64)  # pixel -> position in the current front
        for i, front in enumerate(self.fronts):
            own, bord = front.own, front.border
            k, nb = own.size, bord.size
            local[own] = np.arange(k)
            local[bord] = np.arange(k, k + nb)
            f11 = np.zeros((k, k), order="F")
            f21 = np.zeros((nb, k), order="F")
            f22 = np.zeros((nb, nb), order="F")
            lo, hi = bounds[i], bounds[i + 1]
            col, row, val = local[first[lo:hi]], local[later[lo:hi]], vals[lo:hi]
            if (row < 0).any():
                raise ValueError("grid Cholesky: the matrix has entries outside the 4-neighbour stencil")
            inner = row < k
            f11[row[inner], col[inner]] = val[inner]
            f21[row[~inner] - k, col[~inner]] = val[~inner]
            for child in front.children:
                child_border, update = updates.pop(child)
                pos = local[child_border]
                if (pos < 0).any():
                    raise RuntimeError("grid Cholesky: a child's border is outside its parent's front")
                _extend_add(update, pos, k, f11, f21, f22)
            l11, info = dpotrf(f11, lower=1, clean=0, overwrite_a=1)
            if info != 0:
                raise np.linalg.LinAlgError(f"grid Cholesky: matrix is not positive definite (dpotrf info {info})")
            if nb:
                l21 = dtrsm(1.0, l11, f21, side=1, lower=1, trans_a=1, overwrite_b=1)  # F21 L11^-T
                updates[i] = (bord, dsyrk(-1.0, l21, beta=1.0, c=f22, lower=1, overwrite_c=1))
            else:
                l21 = f21
            front.l11, front.l21 = l11, l21
            local[own] = -1
            local[bord] = -1
        if updates:
            raise RuntimeError("grid Cholesky: updates left unassembled")

    def solve(self, b: np.ndarray) -> np.ndarray:
        """``A^{-1} b`` for a vector of length ``height * width``."""
        z = np.array(b, dtype=np.float64).reshape(-1)
        if z.size != self.n:
            raise ValueError(f"grid Cholesky: right-hand side has {z.size} entries, expected {self.n}")
        for front in self.fronts:  # forward: L y = b
            y = solve_triangular(front.l11, z[front.own], lower=True, check_finite=False)
            z[front.own] = y
            if front.border.size:
                z[front.border] -= front.l21 @ y
        for front in reversed(self.fronts):  # backward: L^T x = y
            rhs = z[front.own]
            if front.border.size:
                rhs = rhs - front.l21.T @ z[front.border]
            z[front.own] = solve_triangular(front.l11, rhs, lower=True, trans="T", check_finite=False)
        return z
