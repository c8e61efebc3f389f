"""The forward product's operand layout: W as nnbp keeps it, or a transposed copy.

nnbp stores W(l) row-major, one row a unit, so ``Z = X W^T`` is one BLAS
call in which both operands are read along their rows (column-major
``gemm('T', 'N')``, dot products). A transposed copy ``W^T``, kept in step
with the updates, would make it ``gemm('N', 'N')``. Both are timed on one BLAS
thread, as each member of a team calls it, for the first layer of the
784-256-128-10 network; so is keeping the copy in step, one transposition of
W a step (the least it could cost: the update writes W, and the copy has to
follow). The whole step is faster with the copy only if the product saves
more than the transposition costs.
"""
import numpy as np
import scipy.linalg.blas
from threadpoolctl import threadpool_limits

from nnbp_bench import measure

UNITS, FEATURES = 256, 784


def forward_layouts(dtype, batches, repeats):
    """[{batch, microseconds: {layout: median}}] for the first layer's X W^T."""
    rng = np.random.default_rng(0)
    gemm = scipy.linalg.blas.sgemm if np.dtype(dtype) == np.float32 else scipy.linalg.blas.dgemm
    W = rng.standard_normal((UNITS, FEATURES)).astype(dtype)
    W_transposed = np.ascontiguousarray(W.T)
    rows = []
    for batch in batches:
        X = rng.standard_normal((batch, FEATURES)).astype(dtype)
        # scipy's wrappers are column-major: a C-ordered array passed as its
        # transpose (an F-ordered view, no copy) is the row-major call nnbp makes.
        # Z^T (column-major, units x batch) is Z row-major.
        as_kept = lambda: gemm(1.0, W.T, X.T, trans_a=1)                # noqa: E731
        transposed = lambda: gemm(1.0, W_transposed.T, X.T)             # noqa: E731
        in_step = lambda: np.copyto(W_transposed, W.T)                  # noqa: E731
        np.testing.assert_allclose(as_kept(), transposed(), rtol=1e-4 if dtype == np.float32
                                   else 1e-12)
        with threadpool_limits(1, user_api="blas"):
            seconds = {name: measure.median_call_seconds(function, calls=50, blocks=repeats)
                       for name, function in (("W as kept (X W^T)", as_kept),
                                              ("transposed copy (X W^T from W^T)", transposed),
                                              ("keeping the copy in step", in_step))}
        rows.append(dict(dtype=np.dtype(dtype).name, batch=batch,
                         microseconds={name: 1e6 * s for name, s in seconds.items()}))
    return rows
