"""Exact sparse direct solve of a symmetric positive definite system on an image grid.

LIME's illumination refinement (enhancers/lime.py) solves ``A t = b`` where ``A`` is the identity
plus a weighted graph Laplacian of the 4-neighbour pixel grid: one unknown per pixel, about a
million at 1280x720. A general sparse LU (SciPy's SuperLU) spends most of its time in sparse,
vector-at-a-time kernels and does twice the arithmetic a symmetric factorisation needs. On a
grid the best elimination order is known in advance: geometric nested dissection (George 1973).
The image is cut in two by a line of pixels (the separator), each half is cut again, and so on
down to small blocks; a separator is eliminated after both its halves. That order drives a
multifrontal factorisation (Duff & Reid 1983): each node of the dissection tree owns a small
dense "front" (its separator, or a whole leaf block, plus the pixels around its block), which
eliminates its own pixels and hands the Schur complement on the surrounding pixels (the
"update") to its parent.

Two kinds of front, so that neither the arithmetic nor Python's per-call cost dominates:

* large fronts (separators longer than ``BATCH_MAX_OWN``, a few hundred of them): a Cholesky
  factorisation with LAPACK ``potrf``, ``trsm`` and a BLAS-3 ``syrk`` update, one front at a time;
* the tens of thousands of small fronts below them: block elimination, all fronts of the same
  shape and tree height at once with NumPy's stacked ``inv`` and ``matmul`` (the inverse of an
  own block of at most ``BATCH_MAX_OWN`` pixels is cheap, and a stack keeps the loop in C).

The result is an exact direct solve (no tolerance, no iteration): it agrees with SuperLU to the
system's condition number times double rounding (~1e-11 on LIME's maps), in about a third of
its time on a 1280x720 frame (docs/results/README.md). Only the structure of a 4-neighbour grid
is supported: entries ``A[p, q]`` with ``q`` = ``p`` or one of its left, right, upper or lower
neighbours (row-major pixel numbering), which is what :func:`enhancers.lime.lime_system` builds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.linalg import solve_triangular
from scipy.linalg.blas import dsyrk, dtrsm
from scipy.linalg.lapack import dpotrf

# Blocks of at most this many pixels are not cut further (the leaves of the dissection).
LEAF_PIXELS = 32
# Fronts that eliminate at most this many pixels are handled in stacks (block elimination);
# larger ones one at a time (Cholesky). Must be >= LEAF_PIXELS (see _plan).
BATCH_MAX_OWN = 64


@dataclass
class _Front:
    """One node of the dissection tree: the pixels it eliminates (``own``), the pixels around its
    block that its ancestors eliminate (``border``), its children and its height in the tree."""

    own: np.ndarray
    border: np.ndarray
    children: list[int] = field(default_factory=list)
    height: int = 0


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
            height_ = 1 + max(fronts[i].height for i in children)
            done.append(len(fronts))
            fronts.append(_Front(own.copy(), border(r0, r1, c0, c1), children, height_))
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
    """Add a child's update (its lower triangle, at front positions ``pos``) into a large front.
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


@dataclass
class _Stack:
    """Small fronts of one shape, eliminated together: ``x_own = inv11 (b_own - x12 x_border)``
    with ``x12 = inv11 A12`` (block elimination)."""

    fronts: list[int]
    own: np.ndarray  # (G, k) pixel indices
    border: np.ndarray  # (G, nb)
    inv11: np.ndarray | None = None  # (G, k, k)
    x12: np.ndarray | None = None  # (G, k, nb)


@dataclass
class _Single:
    """A large front: Cholesky factor blocks ``L11`` (lower) and ``L21``."""

    front: int
    own: np.ndarray
    border: np.ndarray
    l11: np.ndarray | None = None
    l21: np.ndarray | None = None


class GridCholesky:
    """Factorisation of an SPD matrix on a ``height x width`` 4-neighbour grid in
    nested-dissection order; :meth:`solve` then costs two sweeps over the tree.

    ``A`` must be symmetric positive definite (LIME's system is: the identity plus a graph
    Laplacian). A large front that is not raises ``numpy.linalg.LinAlgError``; entries outside
    the grid's stencil raise ``ValueError``.
    """

    def __init__(self, a: sp.spmatrix | sp.sparray, height: int, width: int,
                 leaf: int = LEAF_PIXELS, batch_max_own: int = BATCH_MAX_OWN) -> None:
        n = height * width
        a = sp.csr_matrix(a)
        if a.shape != (n, n):
            raise ValueError(f"grid Cholesky: matrix is {a.shape}, expected {(n, n)} for a {height}x{width} grid")
        if batch_max_own < leaf:
            raise ValueError(f"grid Cholesky: batch_max_own ({batch_max_own}) must be >= leaf ({leaf})")
        a.sum_duplicates()
        self.n = n
        fronts = _dissection(height, width, leaf)
        rank = np.empty(n, dtype=np.int64)  # elimination position of every pixel
        start = 0
        for front in fronts:
            rank[front.own] = np.arange(start, start + front.own.size)
            start += front.own.size
        if start != n:
            raise RuntimeError(f"grid Cholesky: dissection covers {start} of {n} pixels")
        for front in fronts:  # a front's pixels in elimination order: own, then border by rank
            front.border = front.border[np.argsort(rank[front.border])]
        self.units = self._plan(fronts, batch_max_own)
        self._factorise(a, fronts, rank)

    @staticmethod
    def _plan(fronts: list[_Front], batch_max_own: int) -> list[_Stack | _Single]:
        """Units of work in an order where every front comes after its children: by height;
        within a height, small fronts of equal shape together. A small front's children are
        small too (a child's separator is no longer than its parent's, and leaves are small)."""
        units: list[_Stack | _Single] = []
        by_height: dict[int, list[int]] = defaultdict(list)
        for i, front in enumerate(fronts):
            by_height[front.height].append(i)
        for h in sorted(by_height):
            groups: dict[tuple, list[int]] = defaultdict(list)
            for i in by_height[h]:
                front = fronts[i]
                if front.own.size > batch_max_own:
                    units.append(_Single(i, front.own, front.border))
                else:
                    key = (front.own.size, front.border.size,
                           tuple(fronts[c].border.size for c in front.children))
                    groups[key].append(i)
            for members in groups.values():
                own = np.stack([fronts[i].own for i in members])
                border = np.stack([fronts[i].border for i in members])
                units.append(_Stack(members, own, border))
        return units

    def _factorise(self, a: sp.csr_matrix, fronts: list[_Front], rank: np.ndarray) -> None:
        # Every entry A[p, q] belongs to the front that eliminates the earlier of p and q.
        rows = np.repeat(np.arange(self.n), np.diff(a.indptr))
        cols = a.indices
        keep = rank[cols] >= rank[rows]
        first, later, vals = rows[keep], cols[keep], a.data[keep]
        order = np.argsort(rank[first], kind="stable")
        first, later, vals = first[order], later[order], vals[order]
        own_start = np.cumsum([0] + [f.own.size for f in fronts])
        bounds = np.searchsorted(rank[first], own_start)
        entries = (first, later, vals, bounds)
        updates: dict[int, np.ndarray] = {}  # front -> its update, until its parent takes it
        local = np.full(self.n, -1, dtype=np.int64)  # pixel -> position in a large front
        for unit in self.units:
            if isinstance(unit, _Single):
                self._factor_single(unit, fronts[unit.front], entries, updates, local)
            else:
                self._factor_stack(unit, fronts, entries, updates, rank)
        if updates:
            raise RuntimeError("grid Cholesky: updates left unassembled")

    @staticmethod
    def _factor_single(unit: _Single, front: _Front, entries: tuple, updates: dict,
                       local: np.ndarray) -> None:
        """Cholesky of one large front, lower triangles only (``syrk``)."""
        first, later, vals, bounds = entries
        own, bord = unit.own, unit.border
        k, nb = own.size, bord.size
        local[own] = np.arange(k)
        local[bord] = np.arange(k, k + nb)
        f11 = np.zeros((k, k), order="F")
        f21 = np.zeros((nb, k), order="F")
        f22 = np.zeros((nb, nb), order="F")
        lo, hi = bounds[unit.front], bounds[unit.front + 1]
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
            updates[unit.front] = (bord, dsyrk(-1.0, l21, beta=1.0, c=f22, lower=1, overwrite_c=1))
        else:
            l21 = f21
        unit.l11, unit.l21 = l11, l21
        local[own] = -1
        local[bord] = -1

    def _factor_stack(self, unit: _Stack, fronts: list[_Front], entries: tuple, updates: dict,
                      rank: np.ndarray) -> None:
        """Block elimination of a stack of small fronts of one shape (full symmetric blocks)."""
        first, later, vals, bounds = entries
        g, k = unit.own.shape
        nb = unit.border.shape[1]
        size = k + nb
        # Positions in each front by searching its (ascending) ranks, offset per front.
        keys = (rank[np.concatenate([unit.own, unit.border], axis=1)]
                + self.n * np.arange(g)[:, None]).ravel()

        def positions(pixels: np.ndarray, which: np.ndarray) -> np.ndarray:
            wanted = rank[pixels] + self.n * which
            pos = np.searchsorted(keys, wanted)
            if (pos >= keys.size).any() or (keys[np.minimum(pos, keys.size - 1)] != wanted).any():
                raise ValueError("grid Cholesky: the matrix has entries outside the 4-neighbour stencil")
            return pos - size * which

        f = np.zeros((g, size, size))
        counts = bounds[np.asarray(unit.fronts) + 1] - bounds[np.asarray(unit.fronts)]
        which = np.repeat(np.arange(g), counts)
        span = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in unit.fronts])
        col = positions(first[span], which)
        row = positions(later[span], which)
        f[which, row, col] = vals[span]
        f[which, col, row] = vals[span]
        for slot in range(len(fronts[unit.fronts[0]].children)):
            children = [fronts[i].children[slot] for i in unit.fronts]
            taken = [updates.pop(c) for c in children]
            child_border = np.stack([t[0] for t in taken])
            update = np.stack([t[1] for t in taken])
            which = np.repeat(np.arange(g), child_border.shape[1]).reshape(child_border.shape)
            pos = positions(child_border.ravel(), which.ravel()).reshape(child_border.shape)
            f[np.arange(g)[:, None, None], pos[:, :, None], pos[:, None, :]] += update
        inv11 = np.linalg.inv(f[:, :k, :k])
        x12 = inv11 @ f[:, :k, k:]
        if nb:
            schur = f[:, k:, k:] - f[:, k:, :k] @ x12
            for j, i in enumerate(unit.fronts):
                updates[i] = (unit.border[j], schur[j])
        unit.inv11, unit.x12 = inv11, x12

    def solve(self, b: np.ndarray) -> np.ndarray:
        """``A^{-1} b`` for a vector of length ``height * width``."""
        z = np.array(b, dtype=np.float64).reshape(-1)
        if z.size != self.n:
            raise ValueError(f"grid Cholesky: right-hand side has {z.size} entries, expected {self.n}")
        # Forward: every front subtracts A_border,own A_own,own^-1 b_own from its border.
        for unit in self.units:
            if isinstance(unit, _Single):
                y = solve_triangular(unit.l11, z[unit.own], lower=True, check_finite=False)
                z[unit.own] = y  # kept as L11^-1 b_own for the backward sweep
                if unit.border.size:
                    z[unit.border] -= unit.l21 @ y
            elif unit.border.shape[1]:
                delta = np.einsum("gkb,gk->gb", unit.x12, z[unit.own])
                np.subtract.at(z, unit.border.ravel(), delta.ravel())
        # Backward, parents first: x_own from b_own and the border's x.
        for unit in reversed(self.units):
            if isinstance(unit, _Single):
                rhs = z[unit.own]
                if unit.border.size:
                    rhs = rhs - unit.l21.T @ z[unit.border]
                z[unit.own] = solve_triangular(unit.l11, rhs, lower=True, trans="T", check_finite=False)
            else:
                x_own = np.einsum("gij,gj->gi", unit.inv11, z[unit.own])
                if unit.border.shape[1]:
                    x_own -= np.einsum("gkb,gb->gk", unit.x12, z[unit.border])
                z[unit.own] = x_own
        return z
