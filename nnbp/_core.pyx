# cython: language_level=3, cdivision=True
# boundscheck, wraparound and initializedcheck: setup.py (off; on in the NNBP_SANITIZE=1 debug build).
"""The compiled core: dense layers and whole networks, forward and backward.

Every matrix is C-contiguous (row-major), in float32 or float64 (one fused
type per call). Matrix products go to BLAS through scipy.linalg.cython_blas;
the elementwise work goes to the C kernels of csrc/. The GIL is released
around all numerical work.

Nothing here checks its arguments: nnbp.network and nnbp.layers validate
them once, at the Python boundary.
"""
import os
import warnings

from cython cimport floating
from cython.parallel cimport parallel
from libc.math cimport isfinite, pow, sqrt
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from scipy.linalg.cython_blas cimport sgemm, dgemm

from nnbp._kernels cimport *

# Each kernel of csrc/kernel_list.py on floating: nnbp_small_xwt(...) and so on.
include "_kernels.pxi"

ACTIVATIONS = {
    "identity": NNBP_IDENTITY,
    "logistic": NNBP_LOGISTIC,
    "tanh": NNBP_TANH,
    "relu": NNBP_RELU,
    "leaky_relu": NNBP_LEAKY_RELU,
    "softplus": NNBP_SOFTPLUS,
}
OUTPUTS = {"squared": NNBP_SQUARED, "logistic": NNBP_BINARY, "softmax": NNBP_SOFTMAX,
           "poisson": NNBP_POISSON}
INSTRUCTION_SETS = {"baseline": NNBP_ISA_BASELINE, "avx2": NNBP_ISA_AVX2,
                    "avx512": NNBP_ISA_AVX512}


def kernel_isa(requested=None):
    """The instruction set of nnbp's own kernels: "baseline", "avx2" or "avx512".

    kernel_isa(name) selects one (AVX2 and AVX-512 only where the processor
    has them; all give the same results) and returns the one in use. Not
    thread-safe: for tests and benchmarks.
    """
    if requested is None:
        return isa_name(nnbp_select_isa(NNBP_ISA_QUERY))
    return isa_name(nnbp_select_isa(INSTRUCTION_SETS[requested]))


def isa_name(code):
    return {value: name for name, value in INSTRUCTION_SETS.items()}[code]


def _select_isa(requested):
    """The best instruction set, or the one requested (NNBP_KERNEL_ISA: .ci/kernels)."""
    best = isa_name(nnbp_select_isa(NNBP_ISA_BEST))
    if not requested:
        return
    if requested not in INSTRUCTION_SETS:
        raise ValueError(f"NNBP_KERNEL_ISA must be one of {', '.join(INSTRUCTION_SETS)}, "
                         f"got {requested!r}")
    if kernel_isa(requested) != requested:
        warnings.warn(f"NNBP_KERNEL_ISA={requested}, which this processor lacks: nnbp's "
                      f"kernels use {best}", RuntimeWarning)


_select_isa(os.environ.get("NNBP_KERNEL_ISA", ""))


# ---------------------------------------------------------------- BLAS

cdef inline void gemm(char transa, char transb, int m, int n, int k, floating alpha,
                      const floating *A, int lda, const floating *B, int ldb,
                      floating beta, floating *C, int ldc) noexcept nogil:
    """C = alpha op(A) op(B) + beta C, row-major, C of shape (m, n)."""
    # BLAS is column-major, where a row-major matrix reads as its transpose:
    # C^T = op(B)^T op(A)^T is one column-major call with the operands swapped.
    if floating is float:
        sgemm(&transb, &transa, &n, &m, &k, &alpha, <float *> B, &ldb, <float *> A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&transb, &transa, &n, &m, &k, &alpha, <double *> B, &ldb, <double *> A, &lda,
              &beta, C, &ldc)


# ---------------------------------------------------------------- small products

# Batches of up to this many rows take their products from nnbp's own loops
# (csrc/kernels_impl.h, "small products") instead of BLAS: they read each
# weight once on the calling thread, with no packing and no BLAS threads to
# wake. One row, because that is where they win on every BLAS kernel: from
# two rows on, OpenBLAS's SkylakeX gemm is faster than these loops, which
# take the rows one at a time (its Haswell gemm is slower up to about 8).
DEFAULT_SMALL_ROWS = 1
cdef Py_ssize_t small_rows = DEFAULT_SMALL_ROWS


def small_product_rows(requested=None):
    """Batches of up to this many rows skip BLAS for their products.

    small_product_rows(k) sets it (0: BLAS always) and returns the one in
    use. Not thread-safe: for tests and benchmarks.
    """
    global small_rows
    if requested is not None:
        small_rows = requested
    return small_rows


# ---------------------------------------------------------------- teams of threads
#
# A team's members split each layer's units (rows of W(l), columns of Z(l),
# A(l) and D(l)) into contiguous blocks, one each, and call single-threaded
# BLAS and the kernels on their blocks; they meet at a barrier once a layer
# forward, and once a layer backward (dX needs the whole of D). No sum spans
# two members' blocks but the L2 penalty's, which one member adds up from the
# rows' sums in their order: the results are bitwise the same for a given
# team size, a team of one does exactly what one thread did before teams,
# and the loss is the same whatever the team.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define nnbp_openmp 1
    #define nnbp_team_barrier() _Pragma("omp barrier")
    #else
    #define nnbp_openmp 0
    #define omp_get_max_threads() 1
    #define omp_get_thread_num() 0
    #define omp_get_num_threads() 1
    #define nnbp_team_barrier()
    #endif
    """
    const bint OPENMP "nnbp_openmp"
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
    int omp_get_num_threads() noexcept nogil
    void omp_barrier "nnbp_team_barrier"() noexcept nogil

# Teams are capped here, as scikit-learn caps its own.
MAX_THREADS = 64


cdef struct team:
    int member            # 0 .. size - 1
    int size
    double *shared        # what the members share: the loss


cdef inline team one_thread(double *shared) noexcept nogil:
    """A team of one: the calling thread alone, no barriers."""
    cdef team alone
    alone.member, alone.size, alone.shared = 0, 1, shared
    return alone


cdef inline team this_thread_of_the_team(double *shared) noexcept nogil:
    """Inside a parallel region: the calling thread's place in its team."""
    global largest_team_seen
    cdef team member
    member.member, member.size = omp_get_thread_num(), omp_get_num_threads()
    member.shared = shared
    if member.member == 0 and member.size > largest_team_seen:
        largest_team_seen = member.size
    return member


cdef inline void barrier(const team *t) noexcept nogil:
    """Every member waits for the others here (a team of one never waits)."""
    if t.size > 1:
        omp_barrier()


cdef inline void share_of(const team *t, Py_ssize_t size, Py_ssize_t *lo,
                          Py_ssize_t *hi) noexcept nogil:
    """This member's block lo..hi of 0..size: contiguous, as even as can be."""
    lo[0] = size * t.member // t.size
    hi[0] = size * (t.member + 1) // t.size


cdef int largest_team_seen = 1


def largest_team(reset=False):
    """The most threads a team of this process has had (reset: start again at 1). For tests."""
    global largest_team_seen
    seen = largest_team_seen
    if reset:
        largest_team_seen = 1
    return seen


def openmp_enabled():
    """Whether the core was built with OpenMP: if not, every team has one thread."""
    return OPENMP


def max_threads():
    """OpenMP's thread count for the calling thread's next parallel region."""
    return omp_get_max_threads()


# ---------------------------------------------------------------- one dense layer

cdef void dense_forward_ptr(const team *t, int n, int fan_in, int fan_out, const floating *X,
                            const floating *W, const floating *b, int activation,
                            floating negative_slope, floating *Z, floating *A) noexcept nogil:
    """Z = X W^T + b; A = phi(Z), this member's units (A NULL: Z only; X NULL: Z holds X W^T)."""
    cdef Py_ssize_t lo, hi
    share_of(t, fan_out, &lo, &hi)
    if lo == hi:
        return
    if X == NULL:
        pass
    elif n <= small_rows:
        nnbp_small_xwt(n, hi - lo, fan_in, X, fan_in, W + lo * fan_in, fan_in, Z + lo, fan_out)
    else:
        gemm(c'N', c'T', n, hi - lo, fan_in, 1, X, fan_in, W + lo * fan_in, fan_in, 0, Z + lo,
             fan_out)
    nnbp_bias_activation(activation, negative_slope, n, hi - lo, fan_out,
                         b + lo if b != NULL else NULL, Z + lo, A + lo if A != NULL else NULL)


cdef void dense_backward_ptr(const team *t, int n, int fan_in, int fan_out, const floating *X,
                             const floating *W, const floating *Z, const floating *A,
                             int activation, floating negative_slope, floating *D,
                             floating *dW, floating *db, floating *dX) noexcept nogil:
    """D = dA * phi'(Z) in place; dW = D^T X; db = column sums of D; dX = D W.

    db and dX are skipped when NULL. Each member takes its units for D, dW
    and db, then, once the whole of D is there, its columns of dX: the units
    of the layer below, whose D it will then take in place.
    """
    cdef Py_ssize_t lo, hi
    share_of(t, fan_out, &lo, &hi)
    if lo < hi:
        nnbp_activation_backward(activation, negative_slope, n, hi - lo, fan_out, Z + lo, A + lo,
                                 D + lo, db + lo if db != NULL else NULL)
        if n <= small_rows:
            nnbp_small_dtx(n, hi - lo, fan_in, D + lo, fan_out, X, fan_in, dW + lo * fan_in,
                           fan_in)
        else:
            gemm(c'T', c'N', hi - lo, fan_in, n, 1, D + lo, fan_out, X, fan_in, 0,
                 dW + lo * fan_in, fan_in)
    if dX == NULL:
        return
    barrier(t)
    share_of(t, fan_in, &lo, &hi)
    if lo == hi:
        return
    if n <= small_rows:
        nnbp_small_dw(n, fan_out, hi - lo, D, fan_out, W + lo, fan_in, dX + lo, fan_in)
    else:
        gemm(c'N', c'N', n, hi - lo, fan_out, 1, D, fan_out, W + lo, fan_in, 0, dX + lo, fan_in)


cdef double l2_penalty(const Py_ssize_t[::1] sizes, floating scale, const floating *P,
                       floating *G) noexcept nogil:
    """sum_l ||W(l)||^2 of the weights in P; and G += scale W unless G is NULL.

    The layers are summed from the last to the first, as the backward pass
    meets them, so that the fused one-example step's running sum of the
    same is the same to the last bit.
    """
    cdef Py_ssize_t l, offset = count_weights(sizes)
    cdef floating *G_l = NULL
    cdef double total = 0
    for l in range(sizes.shape[0] - 1, 0, -1):
        offset -= sizes[l] * sizes[l - 1]
        if G != NULL:
            G_l = G + offset
        total += nnbp_l2_penalty(sizes[l], sizes[l - 1], scale, P + offset, G_l, NULL)
    return total


cdef const floating *optional_ptr(object array, floating dtype_of) except? NULL:
    """Address of the first element of a C-contiguous array, NULL for None.

    dtype_of only picks the specialisation. The pointer stays valid while the
    caller holds the array: reshape(-1) of a contiguous array is a view.
    """
    cdef const floating[::1] flat
    if array is None:
        return NULL
    flat = array.reshape(-1)
    return &flat[0]


cdef const int64_t *labels_ptr(object labels) except? NULL:
    """Address of the first label, NULL for None."""
    cdef const int64_t[::1] flat
    if labels is None:
        return NULL
    flat = labels
    return &flat[0]


def dense_forward(const floating[:, ::1] X, const floating[:, ::1] W, object b,
                  int activation, double negative_slope, floating[:, ::1] Z, object A):
    """Z = X W^T + b and A = phi(Z), into the caller's Z and A (A may be None)."""
    cdef const floating *b_ptr = optional_ptr(b, Z[0, 0])
    cdef floating *A_ptr = <floating *> optional_ptr(A, Z[0, 0])
    cdef double shared[2]
    cdef team alone = one_thread(shared)
    with nogil:
        dense_forward_ptr(&alone, X.shape[0], X.shape[1], W.shape[0], &X[0, 0], &W[0, 0],
                          b_ptr, activation, <floating> negative_slope, &Z[0, 0], A_ptr)


def dense_backward(const floating[:, ::1] X, const floating[:, ::1] W,
                   const floating[:, ::1] Z, const floating[:, ::1] A, int activation,
                   double negative_slope, floating[:, ::1] D, floating[:, ::1] dW,
                   object db, object dX):
    """From dA held in D: D = dA * phi'(Z) in place, dW, db, dX into the caller's arrays."""
    cdef floating *db_ptr = <floating *> optional_ptr(db, D[0, 0])
    cdef floating *dX_ptr = <floating *> optional_ptr(dX, D[0, 0])
    cdef double shared[2]
    cdef team alone = one_thread(shared)
    with nogil:
        dense_backward_ptr(&alone, X.shape[0], X.shape[1], W.shape[0], &X[0, 0], &W[0, 0],
                           &Z[0, 0], &A[0, 0], activation, <floating> negative_slope, &D[0, 0],
                           &dW[0, 0], db_ptr, dX_ptr)


def activation_forward(int activation, double negative_slope, const floating[:, ::1] Z,
                       floating[:, ::1] A):
    """A = phi(Z), into the caller's A."""
    with nogil:
        # Z is only read: the kernel adds no bias.
        nnbp_bias_activation(activation, <floating> negative_slope, Z.shape[0], Z.shape[1],
                             Z.shape[1], NULL, <floating *> &Z[0, 0], &A[0, 0])


def activation_backward(int activation, double negative_slope, const floating[:, ::1] Z,
                        const floating[:, ::1] A, floating[:, ::1] D):
    """D = dA * phi'(Z) in place, from dA held in D."""
    with nogil:
        nnbp_activation_backward(activation, <floating> negative_slope, Z.shape[0], Z.shape[1],
                                 Z.shape[1], &Z[0, 0], &A[0, 0], &D[0, 0], NULL)


def output_loss(int output, const floating[:, ::1] Z, object Y, object labels,
                object sample_weight, double scale, object D):
    """sum_i s_i loss_i from the logits Z; D = scale s_i (f_i - t_i) unless D is None."""
    cdef const floating *Y_ptr = optional_ptr(Y, Z[0, 0])
    cdef const int64_t *labels_p = labels_ptr(labels)
    cdef const floating *sw_ptr = optional_ptr(sample_weight, Z[0, 0])
    cdef floating *D_ptr = <floating *> optional_ptr(D, Z[0, 0])
    cdef double total
    with nogil:
        total = nnbp_output_loss(output, Z.shape[0], Z.shape[1], &Z[0, 0], Y_ptr, labels_p,
                                 sw_ptr, scale, D_ptr)
    return total


def output_activation(int output, floating[:, ::1] Z):
    """Z = phi_out(Z) in place."""
    with nogil:
        nnbp_output_activation(output, Z.shape[0], Z.shape[1], &Z[0, 0])


# ---------------------------------------------------------------- sparse input
#
# A sparse X reaches the core as a CSR matrix (scipy's, as
# nnbp._validation.check_features leaves it): data of the network's dtype,
# indices and indptr both int32 or both int64, each contiguous. Only the
# first layer reads X: its product X W(1)^T and its gradient D^T X come from
# the kernels of csrc/sparse.c, and the other layers are as for dense X. A
# batch is its rows' bounds in indptr, laid out by columns (nnbp_csr): its
# entries' indices, not a dense copy.

cdef struct csr_matrix:
    const void *data
    const void *indices
    const void *indptr
    bint index64


cdef struct csr_batch:
    nnbp_csr rows
    # Unless NULL, where the backward pass writes dW(1), compact (at the
    # batch's columns only), instead of into the gradient: for plain sgd,
    # which steps those columns alone (csr_column_sgd).
    void *compact_dW


cdef const void *array_address(object array) except? NULL:
    """Address of a NumPy array's first element."""
    return <const void *> <size_t> array.__array_interface__["data"][0]


cdef bint csr_matrix_of(object X, csr_matrix *matrix) except -1:
    """True, and matrix filled in, if X is a CSR matrix; False for a dense array."""
    if not hasattr(X, "indptr"):
        return False
    matrix.data = array_address(X.data)
    matrix.indices = array_address(X.indices)
    matrix.indptr = array_address(X.indptr)
    matrix.index64 = X.indices.itemsize == 8
    return True


cdef inline int64_t row_start(const csr_matrix *X, Py_ssize_t row) noexcept nogil:
    """indptr[row]: where row's entries start"""
    return (<const int64_t *> X.indptr)[row] if X.index64 else (<const int32_t *> X.indptr)[row]


cdef Py_ssize_t most_entries(const csr_matrix *X, Py_ssize_t n, Py_ssize_t rows,
                             bint consecutive) noexcept nogil:
    """The most entries of a batch of `rows` rows of X's n: of X[k rows:(k + 1) rows]
    if consecutive, else (any rows) a bound, rows times the longest row."""
    cdef Py_ssize_t step = rows if consecutive else 1, start = 0, most = 0
    while start < n:
        most = max(most, row_start(X, min(start + step, n)) - row_start(X, start))
        start += step
    return most if consecutive else min(most * rows, row_start(X, n))


cdef int allocate_batch(csr_batch *batch, const csr_matrix *X, Py_ssize_t rows,
                        Py_ssize_t entries, Py_ssize_t K, size_t real_size) except -1:
    """Room in batch for up to `rows` rows of X holding up to `entries` entries."""
    batch.compact_dW = NULL
    if not nnbp_csr_allocate(&batch.rows, rows, entries, K, real_size):
        raise MemoryError(f"no memory for the layout of {entries} entries of a sparse matrix")
    batch.rows.indices = X.indices
    batch.rows.data = X.data
    batch.rows.index64 = X.index64
    return 0


cdef void csr_rows(const csr_matrix *X, const int64_t *order, Py_ssize_t first,
                   Py_ssize_t count, Py_ssize_t K, floating dtype_of,
                   nnbp_csr *rows) noexcept nogil:
    """rows = X[order[first:first + count]] (order NULL: X[first:first + count]),
    laid out by columns. dtype_of only picks the specialisation."""
    cdef Py_ssize_t k, row
    for k in range(count):
        row = order[first + k] if order != NULL else first + k
        rows.start[k] = row_start(X, row)
        rows.end[k] = row_start(X, row + 1)
    nnbp_csr_columns(rows, count, K, dtype_of)


cdef bint csr_all_rows(object X, Py_ssize_t K, csr_batch *batch, floating dtype_of) except -1:
    """True, and batch all of X's rows laid out (free it with nnbp_csr_free), if X is a
    CSR matrix; False for a dense array. dtype_of only picks the specialisation."""
    cdef csr_matrix X_csr
    cdef Py_ssize_t n = X.shape[0]
    if not csr_matrix_of(X, &X_csr):
        return False
    allocate_batch(batch, &X_csr, n, row_start(&X_csr, n), K, sizeof(floating))
    with nogil:
        csr_rows(&X_csr, NULL, 0, n, K, dtype_of, &batch.rows)
    return True


cdef void csr_first_product(const nnbp_csr *X, Py_ssize_t n, Py_ssize_t fan_in,
                            Py_ssize_t fan_out, const floating *W, floating *Z) noexcept nogil:
    """Z = X W^T"""
    nnbp_csr_xwt(X, n, fan_out, fan_in, W, Z, fan_out)


cdef void csr_first_layer_backward(const csr_batch *X, Py_ssize_t n, Py_ssize_t fan_in,
                                   Py_ssize_t fan_out, const floating *Z, const floating *A,
                                   int activation, floating negative_slope, floating *D,
                                   floating *dW, floating *db) noexcept nogil:
    """D = dA * phi'(Z) in place; dW = D^T X (or into X.compact_dW); db = column sums
    of D unless NULL. The input needs no dX."""
    cdef bint compact = X.compact_dW != NULL
    nnbp_activation_backward(activation, negative_slope, n, fan_out, fan_out, Z, A, D, db)
    nnbp_csr_dtx(&X.rows, n, fan_out, fan_in, D, fan_out,
                 <floating *> X.compact_dW if compact else dW, compact)


cdef bint csr_column_sgd(const csr_matrix *X, csr_batch *batch, nnbp_csr *next,
                         const int64_t *order, Py_ssize_t next_start, Py_ssize_t n,
                         Py_ssize_t batch_size, Py_ssize_t fan_in, Py_ssize_t fan_out,
                         floating learning_rate, floating *W, floating *Z_next) noexcept nogil:
    """W -= lr dW at the batch's columns, from the compact dW. If rows of X remain
    from next_start on, the next batch too: laid out (into batch, which then
    holds it; next is scratch) and its first product into Z_next, with the new
    W, in the same pass over W. Returns whether it made that product."""
    cdef nnbp_csr done
    cdef Py_ssize_t rows = min(batch_size, n - next_start)
    if rows > 0:
        csr_rows(X, order, next_start, rows, fan_in, learning_rate, next)
    nnbp_csr_column_sgd(&batch.rows, fan_out, fan_in, learning_rate,
                        <const floating *> batch.compact_dW, W,
                        next if rows > 0 else NULL, max(rows, 0), Z_next)
    if rows <= 0:
        return False
    done = batch.rows
    batch.rows = next[0]
    next[0] = done
    return True


def csr_layer_forward(object X, const floating[:, ::1] W, object b, int activation,
                      double negative_slope, floating[:, ::1] Z, object A):
    """Z = X W^T + b and A = phi(Z) for a CSR X, into the caller's Z and A (A may be None)."""
    cdef const floating *b_ptr = optional_ptr(b, Z[0, 0])
    cdef floating *A_ptr = <floating *> optional_ptr(A, Z[0, 0])
    cdef Py_ssize_t n = Z.shape[0], K = W.shape[1]
    cdef csr_batch batch
    cdef double shared[1]
    cdef team alone = one_thread(shared)
    csr_all_rows(X, K, &batch, Z[0, 0])
    with nogil:
        csr_first_product(&batch.rows, n, K, W.shape[0], &W[0, 0], &Z[0, 0])
        dense_forward_ptr(&alone, n, K, W.shape[0], NULL, &W[0, 0], b_ptr, activation,
                          <floating> negative_slope, &Z[0, 0], A_ptr)
    nnbp_csr_free(&batch.rows)


def csr_layer_backward(object X, const floating[:, ::1] Z, const floating[:, ::1] A,
                       int activation, double negative_slope, floating[:, ::1] D,
                       floating[:, ::1] dW, object db):
    """From dA held in D, for a CSR X: D = dA * phi'(Z) in place, dW = D^T X and db."""
    cdef floating *db_ptr = <floating *> optional_ptr(db, D[0, 0])
    cdef Py_ssize_t n = D.shape[0], K = dW.shape[1]
    cdef csr_batch batch
    csr_all_rows(X, K, &batch, D[0, 0])
    with nogil:
        csr_first_layer_backward(&batch, n, K, dW.shape[0], &Z[0, 0], &A[0, 0], activation,
                                 <floating> negative_slope, &D[0, 0], &dW[0, 0], db_ptr)
    nnbp_csr_free(&batch.rows)


# ---------------------------------------------------------------- whole networks
#
# Parameters (see nnbp.network): W(1) ... W(L), each row-major (m_l, m_{l-1}),
# then b(1) ... b(L).
# Workspace for a batch of n rows: Z(l) then A(l) for each hidden layer, then
# Z(L), then two delta buffers of n * max(m_l) that the backward pass
# alternates between.

def workspace_size(const Py_ssize_t[::1] sizes, Py_ssize_t n):
    """Number of elements of the workspace for a batch of n rows."""
    return workspace_elements(sizes, n)


cdef Py_ssize_t workspace_elements(const Py_ssize_t[::1] sizes, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t L = sizes.shape[0] - 1, widest = 0, total = 0, l
    for l in range(1, L + 1):
        total += (2 if l < L else 1) * n * sizes[l]
        widest = max(widest, sizes[l])
    return total + 2 * n * widest


cdef Py_ssize_t count_weights(const Py_ssize_t[::1] sizes) noexcept nogil:
    """sum_l m_l m_{l-1}: where the biases start in params."""
    cdef Py_ssize_t l, total = 0
    for l in range(1, sizes.shape[0]):
        total += sizes[l] * sizes[l - 1]
    return total


cdef void forward_pass(const team *t, Py_ssize_t n, const Py_ssize_t[::1] sizes,
                       const floating *P, bint has_bias, int activation,
                       floating negative_slope, const floating *X, const csr_batch *X_sparse,
                       floating *work,
                       floating *Z_last, bint first_product_done) noexcept nogil:
    """Z(l) and A(l) of each hidden layer into work, in turn; Z(L) into Z_last.

    X_sparse, unless NULL, holds the rows instead of X.
    first_product_done: Z(1) holds X W(1)^T already (the fused one-example
    step computes it). The team meets after each layer: the next needs all
    of its inputs.
    """
    cdef Py_ssize_t L = sizes.shape[0] - 1, l, w_offset = 0
    cdef Py_ssize_t b_offset = count_weights(sizes)
    cdef const floating *inputs = X
    cdef floating *Z
    if X_sparse != NULL and not first_product_done:
        # The sparse kernels are one thread's: the first member's.
        if t.member == 0:
            csr_first_product(&X_sparse.rows, n, sizes[0], sizes[1], P,
                              work if L > 1 else Z_last)
        barrier(t)
        first_product_done = True
    if first_product_done:
        inputs = NULL
    for l in range(1, L + 1):
        Z = work if l < L else Z_last
        dense_forward_ptr(t, n, sizes[l - 1], sizes[l], inputs, P + w_offset,
                          P + b_offset if has_bias else NULL,
                          activation if l < L else NNBP_IDENTITY, negative_slope,
                          Z, Z + n * sizes[l] if l < L else NULL)
        barrier(t)
        if l < L:
            inputs = Z + n * sizes[l]
            work += 2 * n * sizes[l]
        w_offset += sizes[l] * sizes[l - 1]
        b_offset += sizes[l]


cdef int check_rows_per_step(str name, Py_ssize_t rows) except -1:
    """Refuse a number of rows per step below 1, with which a loop over the rows
    would never end (0) or would run off its arrays (negative)."""
    if rows < 1:
        raise ValueError(f"{name} must be >= 1, got {rows}")
    return 0


def network_forward(const floating[::1] params, const Py_ssize_t[::1] sizes, bint has_bias,
                    int activation, double negative_slope, int output,
                    object X, floating[::1] workspace, floating[:, ::1] out,
                    Py_ssize_t block_rows, int threads):
    """out = f(X): probabilities for the logistic and softmax outputs, e^z for poisson.

    X: a dense array or a CSR matrix. Rows are independent: each of
    `threads` threads takes its share of them (a CSR X: one thread), in
    blocks of block_rows, with its own part of the workspace (a block's), so
    that the workspace is threads blocks', however many rows X has.
    """
    cdef Py_ssize_t block_workspace = workspace_elements(sizes, block_rows)
    cdef Py_ssize_t start = 0, rows
    cdef double shared[1]
    cdef team member = one_thread(shared)
    cdef const floating[:, ::1] X_dense
    cdef csr_matrix X_csr
    cdef csr_batch block
    check_rows_per_step("block_rows", block_rows)
    if csr_matrix_of(X, &X_csr):
        allocate_batch(&block, &X_csr, block_rows,
                       most_entries(&X_csr, out.shape[0], block_rows, True), sizes[0],
                       sizeof(floating))
        with nogil:
            while start < out.shape[0]:
                rows = min(block_rows, out.shape[0] - start)
                csr_rows(&X_csr, NULL, start, rows, sizes[0], params[0], &block.rows)
                forward_pass(&member, rows, sizes, &params[0], has_bias, activation,
                             <floating> negative_slope, NULL, &block, &workspace[0],
                             &out[start, 0], False)
                nnbp_output_activation(output, rows, out.shape[1], &out[start, 0])
                start += rows
        nnbp_csr_free(&block.rows)
        return
    X_dense = X
    if threads == 1:
        with nogil:
            forward_rows(0, X_dense.shape[0], sizes, &params[0], has_bias, activation,
                         <floating> negative_slope, output, X_dense, &workspace[0], out,
                         block_rows)
        return
    with nogil, parallel(num_threads=threads):
        member = this_thread_of_the_team(shared)
        forward_rows(X_dense.shape[0] * member.member // member.size,
                     X_dense.shape[0] * (member.member + 1) // member.size, sizes, &params[0],
                     has_bias, activation, <floating> negative_slope, output, X_dense,
                     &workspace[0] + member.member * block_workspace, out, block_rows)


cdef void forward_rows(Py_ssize_t start, Py_ssize_t stop, const Py_ssize_t[::1] sizes,
                       const floating *P, bint has_bias, int activation,
                       floating negative_slope, int output, const floating[:, ::1] X,
                       floating *work, floating[:, ::1] out, Py_ssize_t block_rows) noexcept nogil:
    """out[start:stop] = f(X[start:stop]), block_rows at a time, by the calling thread alone."""
    cdef Py_ssize_t rows
    cdef double shared[2]
    cdef team alone = one_thread(shared)
    while start < stop:
        rows = min(block_rows, stop - start)
        forward_pass(&alone, rows, sizes, P, has_bias, activation, negative_slope,
                     &X[start, 0], NULL, work, &out[start, 0], False)
        nnbp_output_activation(output, rows, out.shape[1], &out[start, 0])
        start += rows


cdef void forget_rows_of_weight_zero(Py_ssize_t n, const Py_ssize_t[::1] sizes,
                                     const floating *sample_weight,
                                     floating *work) noexcept nogil:
    """Zero the hidden layers' Z and A (laid out in work as forward_pass lays
    them) in each row of weight 0.

    Such a row's output delta is 0 (nnbp_output_loss), but the backward pass
    multiplies it by the row's hidden values: where one overflowed to inf,
    0 * inf would be a NaN in the weights' gradient. Zeroed, the row adds
    exactly 0, whatever its values.
    """
    cdef Py_ssize_t L = sizes.shape[0] - 1, l, i
    for l in range(1, L):
        for i in range(n):
            if sample_weight[i] == 0:
                memset(work + i * sizes[l], 0, sizes[l] * sizeof(floating))
                memset(work + (n + i) * sizes[l], 0, sizes[l] * sizeof(floating))
        work += 2 * n * sizes[l]


cdef double loss_and_gradient(const team *t, Py_ssize_t n, const Py_ssize_t[::1] sizes,
                              floating *P, bint has_bias, int activation,
                              floating negative_slope, int output, const floating *X,
                              const csr_batch *X_sparse, const floating *Y,
                              const int64_t *labels,
                              const floating *sample_weight, double weight_total, double alpha,
                              floating *work, floating *G, const nnbp_rule *rule,
                              floating *state_1, floating *state_2, double *penalty,
                              const floating *X_next, bint first_product_done,
                              double *row_sums) noexcept nogil:
    """Loss of the network on n rows; its gradient into G unless G is NULL.

    loss = (1/S) sum_i s_i loss_i + alpha/(2S) sum_l ||W(l)||^2, S = weight_total.
    Every member of the team calls it, and returns the loss; the gradient is
    whole when they return. row_sums (a double for each unit of the network)
    holds the members' rows' sums of squares for the penalty. X_sparse,
    unless NULL, holds the rows instead of X (and there is no rule).

    With a rule instead of G (one row, a team of one): the example's step,
    each W(l) read and written once, its gradient never stored: the
    lecture's W <- W - eta d x^T, by the rule, with the rule's state
    (velocity; Adam's moments) in state_1 and state_2. penalty holds
    sum_l ||W(l)||^2 of P, which the step keeps up to date. A step whose loss
    is not finite is not taken. Unless X_next is NULL, the step also
    computes the next example's first product, X_next W(1)^T with the new
    W(1), into Z(1), while W(1) is in cache: the next call then says
    first_product_done, and reads W(1) once, not twice.
    """
    cdef Py_ssize_t L = sizes.shape[0] - 1, l, lo, hi, k
    cdef Py_ssize_t n_weights = count_weights(sizes), widest = 0, z_offset = 0, rows_before
    cdef double layer_sum
    cdef Py_ssize_t w_offset = n_weights, b_offset = n_weights
    cdef const floating *inputs
    cdef floating *Z
    cdef floating *A
    cdef floating *D
    cdef floating *D_next
    cdef floating *swap
    cdef floating penalty_scale = <floating> (alpha / weight_total)
    cdef double total, share = 0
    for l in range(1, L + 1):
        widest = max(widest, sizes[l])
        b_offset += sizes[l]
        if l < L:
            z_offset += 2 * n * sizes[l]
    # Now z_offset is where Z(L) goes, after the hidden layers' Z and A;
    # w_offset and b_offset are one layer past the end, for the backward pass.
    Z = work + z_offset
    forward_pass(t, n, sizes, P, has_bias, activation, negative_slope, X, X_sparse, work, Z,
                 first_product_done)
    D = Z + n * sizes[L]
    D_next = D + n * widest
    if t.member == 0:
        total = nnbp_output_loss(output, n, sizes[L], Z, Y, labels, sample_weight,
                                 1.0 / weight_total, D if G != NULL or rule != NULL else NULL)
        if G != NULL and sample_weight != NULL and L > 1:
            forget_rows_of_weight_zero(n, sizes, sample_weight, work)
        total /= weight_total
        if alpha != 0 and rule != NULL:
            total += alpha / (2 * weight_total) * penalty[0]
        elif alpha != 0 and G == NULL:
            total += alpha / (2 * weight_total) * l2_penalty(sizes, 0, P, NULL)
        t.shared[0] = total
    barrier(t)
    total = t.shared[0]
    if G == NULL and (rule == NULL or not isfinite(total)):
        return total
    for l in range(L, 0, -1):
        w_offset -= sizes[l] * sizes[l - 1]
        b_offset -= sizes[l]
        if l < L:
            z_offset -= 2 * n * sizes[l]
        Z = work + z_offset
        A = Z + n * sizes[l] if l < L else Z
        inputs = X if l == 1 else work + z_offset - n * sizes[l - 1]
        if rule == NULL:
            if l == 1 and X_sparse != NULL:
                # The sparse kernels are one thread's, the first member's, on the
                # whole of D(1): the others' columns of it first, and the
                # penalty's share of dW(1) after.
                barrier(t)
                if t.member == 0:
                    csr_first_layer_backward(X_sparse, n, sizes[0], sizes[1], Z, A,
                                             activation if l < L else NNBP_IDENTITY,
                                             negative_slope, D, G + w_offset,
                                             G + b_offset if has_bias else NULL)
                barrier(t)
            else:
                dense_backward_ptr(t, n, sizes[l - 1], sizes[l], inputs, P + w_offset, Z, A,
                                   activation if l < L else NNBP_IDENTITY, negative_slope, D,
                                   G + w_offset, G + b_offset if has_bias else NULL,
                                   D_next if l > 1 else NULL)
            if alpha != 0:
                # The penalty's gradient, and its rows' sums, on this member's rows.
                share_of(t, sizes[l], &lo, &hi)
                share += nnbp_l2_penalty(hi - lo, sizes[l - 1], penalty_scale,
                                         P + w_offset + lo * sizes[l - 1],
                                         G + w_offset + lo * sizes[l - 1],
                                         row_sums + (b_offset - n_weights) + lo
                                         if t.size > 1 else NULL)
        else:
            if l < L:
                nnbp_activation_backward(activation, negative_slope, 1, sizes[l], sizes[l], Z, A,
                                         D, NULL)
            share += nnbp_example_step(
                sizes[l], sizes[l - 1], D, inputs, penalty_scale if alpha != 0 else 0, rule,
                P + w_offset, state_1 + w_offset if state_1 != NULL else NULL,
                state_2 + w_offset if state_2 != NULL else NULL, D_next if l > 1 else NULL,
                X_next if l == 1 else NULL, work)
            if has_bias:
                # The bias's gradient is d itself.
                rule_update(rule, sizes[l], D, state_1 + b_offset if state_1 != NULL else NULL,
                            state_2 + b_offset if state_2 != NULL else NULL, P + b_offset)
        swap = D
        D = D_next
        D_next = swap
    if rule != NULL:
        penalty[0] = share
        return total
    barrier(t)
    if alpha != 0:
        if t.member == 0:
            if t.size > 1:
                # The rows' sums in the order one thread adds them: layer by
                # layer from the last, each from 0.
                share = rows_before = 0
                for l in range(1, L + 1):
                    rows_before += sizes[l]
                for l in range(L, 0, -1):
                    rows_before -= sizes[l]
                    layer_sum = 0
                    for k in range(sizes[l]):
                        layer_sum += row_sums[rows_before + k]
                    share += layer_sum
            t.shared[0] = total + alpha / (2 * weight_total) * share
        barrier(t)
        total = t.shared[0]
    return total


def network_loss_grad(const floating[::1] params, const Py_ssize_t[::1] sizes,
                      bint has_bias, int activation, double negative_slope, int output,
                      object X, object Y, object labels, object sample_weight,
                      double weight_total, double alpha, floating[::1] workspace,
                      object grad, double[::1] row_sums, int threads):
    """Loss of the network on (X, targets); its gradient into grad unless grad is None.

    loss = (1/S) sum_i s_i loss_i + alpha/(2S) sum_l ||W(l)||^2, S = weight_total.
    X: a dense array or a CSR matrix. A team of `threads` threads computes it
    (see "teams of threads").
    """
    cdef floating *G = <floating *> optional_ptr(grad, workspace[0])
    cdef const floating *Y_ptr = optional_ptr(Y, workspace[0])
    cdef const int64_t *labels_p = labels_ptr(labels)
    cdef const floating *sw_ptr = optional_ptr(sample_weight, workspace[0])
    cdef double shared[1]
    cdef team member
    cdef const floating[:, ::1] X_dense
    cdef const floating *X_ptr = NULL
    cdef csr_batch rows
    cdef csr_batch *X_sparse = NULL
    cdef Py_ssize_t n = X.shape[0]
    if csr_all_rows(X, sizes[0], &rows, params[0]):
        X_sparse = &rows
    else:
        X_dense = X
        X_ptr = &X_dense[0, 0]
    # Without a rule, params are only read.
    if threads == 1:
        member = one_thread(shared)
        with nogil:
            loss_and_gradient(&member, n, sizes, <floating *> &params[0], has_bias, activation,
                              <floating> negative_slope, output, X_ptr, X_sparse, Y_ptr,
                              labels_p, sw_ptr, weight_total, alpha, &workspace[0], G, NULL,
                              NULL, NULL, NULL, NULL, False, &row_sums[0])
    else:
        with nogil, parallel(num_threads=threads):
            member = this_thread_of_the_team(shared)
            loss_and_gradient(&member, n, sizes, <floating *> &params[0], has_bias, activation,
                              <floating> negative_slope, output, X_ptr, X_sparse, Y_ptr,
                              labels_p, sw_ptr, weight_total, alpha, &workspace[0], G, NULL,
                              NULL, NULL, NULL, NULL, False, &row_sums[0])
    if X_sparse != NULL:
        nnbp_csr_free(&rows.rows)
    return shared[0]


# ---------------------------------------------------------------- training

cdef void adam_update(Py_ssize_t size, double learning_rate, double beta_1, double beta_2,
                      double epsilon, const floating *grad, floating *m, floating *v,
                      floating *params) noexcept nogil:
    """m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr m / (sqrt(v) + eps)"""
    # The constants are rounded to the dtype after they are formed in double,
    # as NumPy does with the Python floats of scikit-learn's update.
    nnbp_adam_update(size, <floating> learning_rate, <floating> beta_1, <floating> (1 - beta_1),
                     <floating> beta_2, <floating> (1 - beta_2), <floating> epsilon, grad, m, v,
                     params)


cdef void rule_update(const nnbp_rule *rule, Py_ssize_t size, const floating *grad,
                      floating *state_1, floating *state_2, floating *params) noexcept nogil:
    """One update of params from grad by the rule, in place"""
    if rule.adam:
        adam_update(size, rule.learning_rate, rule.beta_1, rule.beta_2, rule.epsilon, grad,
                    state_1, state_2, params)
    else:
        nnbp_sgd_update(size, <floating> rule.learning_rate, <floating> rule.momentum,
                        rule.nesterov, grad, state_1, params)


cdef double adam_step_size(double learning_rate, double beta_1, double beta_2,
                           Py_ssize_t step) noexcept nogil:
    """lr sqrt(1 - b2^t) / (1 - b1^t): Adam's bias correction at step t"""
    return learning_rate * sqrt(1 - pow(beta_2, step)) / (1 - pow(beta_1, step))


def adam_learning_rate(double learning_rate, double beta_1, double beta_2, Py_ssize_t step):
    """lr sqrt(1 - b2^t) / (1 - b1^t): Adam's step size at step t >= 1, as the compiled
    updates take it (nnbp.Adam reports it after an epoch)."""
    return adam_step_size(learning_rate, beta_1, beta_2, step)


def update(str solver, floating[::1] params, const floating[::1] grad, object first_moment,
           object second_moment, double learning_rate, double momentum, bint nesterov,
           double beta_1, double beta_2, double epsilon, Py_ssize_t step):
    """One update of params from grad, in place; returns Adam's step size (lr for sgd).

    sgd: first_moment is the velocity (None: plain gradient descent).
    adam: first and second moments, step is t, counted from 1.
    """
    cdef floating *m_ptr = <floating *> optional_ptr(first_moment, params[0])
    cdef floating *v_ptr = <floating *> optional_ptr(second_moment, params[0])
    if solver == "adam":
        learning_rate = adam_step_size(learning_rate, beta_1, beta_2, step)
    with nogil:
        if solver == "adam":
            adam_update(params.shape[0], learning_rate, beta_1, beta_2, epsilon, &grad[0],
                        m_ptr, v_ptr, &params[0])
        else:
            nnbp_sgd_update(params.shape[0], <floating> learning_rate, <floating> momentum,
                            nesterov, &grad[0], m_ptr, &params[0])
    return learning_rate


def all_finite(const floating[::1] x):
    """True if no entry of x is inf or nan; allocates nothing."""
    cdef bint finite
    if x.shape[0] == 0:
        # Nothing to check, and no first element whose address to take.
        return True
    with nogil:
        finite = nnbp_all_finite(x.shape[0], &x[0])
    return finite


cdef void gather_rows(const floating *source, Py_ssize_t width, const int64_t *rows,
                      Py_ssize_t count, floating *target) noexcept nogil:
    """target[k, :] = source[rows[k], :]"""
    cdef Py_ssize_t k
    for k in range(count):
        memcpy(target + k * width, source + rows[k] * width, width * sizeof(floating))


cdef extern from "Python.h":
    # Declared without "except -1": the KeyboardInterrupt it sets stays set
    # for train_epoch to raise once it is out of its nogil loop.
    int run_signal_handlers "PyErr_CheckSignals" ()


# How often a compiled epoch lets Ctrl-C in: often enough to feel immediate,
# rarely enough that taking the GIL (perhaps waiting for it) costs nothing.
cdef double SIGNAL_CHECK_SECONDS = 0.1


cdef double monotonic_seconds() noexcept nogil:
    cdef timespec now
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec + 1e-9 * now.tv_nsec


cdef bint interrupted() noexcept with gil:
    """True if a signal handler raised (Ctrl-C: KeyboardInterrupt), which is left set."""
    return run_signal_handlers() != 0


cdef int raise_pending() except -1:
    return -1


cdef void batch_step(const team *t, Py_ssize_t rows, const Py_ssize_t[::1] sizes,
                     floating *params, bint has_bias, int activation, floating negative_slope,
                     int output, const floating *X, const csr_batch *X_sparse,
                     const floating *Y, const int64_t *labels, const floating *sample_weight,
                     double weight_total, double alpha, floating *work, floating *grad,
                     const nnbp_rule *rule, floating *state_1, floating *state_2,
                     double *penalty, const floating *X_next, bint first_product_done,
                     double *row_sums, Py_ssize_t update_from, Py_ssize_t n_params, bint adam,
                     double step_size, double momentum, bint nesterov, double beta_1,
                     double beta_2, double epsilon) noexcept nogil:
    """A batch's loss into t.shared[0] and, if it is finite, its step: this member's share.

    With a rule, the one-example step (see loss_and_gradient); else the
    gradient into grad, then the update of this member's part of
    params[update_from:] by sgd (state_1 the velocity, or NULL) or adam
    (state_1 and state_2 the moments, step_size Adam's at this step).
    """
    cdef Py_ssize_t lo, hi
    cdef double total = loss_and_gradient(t, rows, sizes, params, has_bias, activation,
                                          negative_slope, output, X, X_sparse, Y, labels,
                                          sample_weight, weight_total, alpha, work,
                                          grad if rule == NULL else NULL, rule, state_1,
                                          state_2, penalty, X_next, first_product_done,
                                          row_sums)
    if rule != NULL or not isfinite(total):
        return
    share_of(t, n_params - update_from, &lo, &hi)
    lo += update_from
    hi += update_from
    if adam:
        adam_update(hi - lo, step_size, beta_1, beta_2, epsilon, grad + lo, state_1 + lo,
                    state_2 + lo, params + lo)
    else:
        nnbp_sgd_update(hi - lo, <floating> step_size, <floating> momentum, nesterov, grad + lo,
                        state_1 + lo if state_1 != NULL else NULL, params + lo)


def train_epoch(str solver, floating[::1] params, const Py_ssize_t[::1] sizes, bint has_bias,
                int activation, double negative_slope, int output, double alpha,
                object X, object Y, object labels, object sample_weight,
                object order, Py_ssize_t batch_size, double learning_rate, double momentum,
                bint nesterov, double beta_1, double beta_2, double epsilon,
                Py_ssize_t step, object first_moment, object second_moment,
                floating[::1] grad, floating[::1] workspace, floating[:, ::1] X_batch,
                object Y_batch, object labels_batch, object sample_weight_batch,
                double[::1] row_sums, int threads):
    """One epoch of minibatch sgd or adam over X in the given order, compiled.

    Batches are the rows order[k:k + batch_size] (order None: X's own order,
    read in place); shuffled rows are gathered into the *_batch buffers. The
    learning rate is fixed for the epoch (Adam corrects it at every step).
    Returns (sum over batches of batch loss * batch rows, Adam's step t, the
    index of the batch whose loss was not finite or -1). That batch's update
    is not made: params are those that gave the non-finite loss.

    A team of `threads` threads takes each batch (see "teams of threads"),
    loss, gradient and update. Batches of one row (batch_size 1) step each
    layer in one pass over its weights, without forming the gradient
    (loss_and_gradient with a rule), on one thread: the same updates, and
    grad is left as it was.

    X is a dense array or a CSR matrix, whose batches are laid out from its
    rows where they lie (X_batch is unused). With it, plain sgd (no
    momentum, alpha 0) steps only the columns of W(1) of the features in the
    batch, the others' gradient being 0: their gradient is kept apart, and
    grad's W(1) is left as it was. That step also computes the next batch's
    first product with the new W(1), in the same pass over it.

    Signal handlers run between batches (every SIGNAL_CHECK_SECONDS): Ctrl-C
    raises KeyboardInterrupt there, with params part-way through the epoch.
    """
    cdef Py_ssize_t n = X.shape[0], m_in = X.shape[1], m_out = sizes[sizes.shape[0] - 1]
    cdef nnbp_rule rule
    cdef nnbp_rule *example_rule = NULL
    cdef double penalty = 0
    cdef const floating *X_next
    cdef bint first_product_done = False
    cdef Py_ssize_t start = 0, rows, k, batch = 0, failed = -1
    cdef bint adam = solver == "adam"
    cdef const int64_t[::1] rows_of
    cdef const int64_t *row_ptr = NULL
    cdef const floating *Y_ptr = optional_ptr(Y, params[0])
    cdef const int64_t *labels_p = labels_ptr(labels)
    cdef const floating *sw_ptr = optional_ptr(sample_weight, params[0])
    cdef floating *Yb_ptr = <floating *> optional_ptr(Y_batch, params[0])
    cdef int64_t *labels_b = <int64_t *> labels_ptr(labels_batch)
    cdef floating *swb_ptr = <floating *> optional_ptr(sample_weight_batch, params[0])
    cdef floating *m_ptr = <floating *> optional_ptr(first_moment, params[0])
    cdef floating *v_ptr = <floating *> optional_ptr(second_moment, params[0])
    cdef const floating *X_rows
    cdef const floating *Y_rows
    cdef const int64_t *label_rows
    cdef const floating *sw_rows
    cdef double batch_loss, weight_total, step_size, accumulated = 0
    cdef double shared[1]
    cdef team alone = one_thread(shared), member
    cdef double next_signal_check = monotonic_seconds() + SIGNAL_CHECK_SECONDS
    cdef bint stopped_by_signal = False
    cdef const floating[:, ::1] X_dense
    cdef csr_matrix X_csr
    cdef csr_batch batch_rows, next_rows
    cdef csr_batch *X_sparse = NULL
    cdef Py_ssize_t first_weights = sizes[0] * sizes[1], entries
    cdef bint compact
    check_rows_per_step("batch_size", batch_size)
    if order is not None:
        rows_of = order
        row_ptr = &rows_of[0]
    if csr_matrix_of(X, &X_csr):
        X_sparse = &batch_rows
        # The sparse kernels and the column step are one thread's.
        threads = 1
    else:
        X_dense = X
    if batch_size == 1 and X_sparse == NULL:
        rule.adam, rule.nesterov = adam, nesterov
        rule.learning_rate, rule.momentum = learning_rate, momentum
        rule.beta_1, rule.beta_2, rule.epsilon = beta_1, beta_2, epsilon
        example_rule = &rule
    if X_sparse != NULL:
        entries = most_entries(&X_csr, n, batch_size, row_ptr == NULL)
        allocate_batch(&batch_rows, &X_csr, batch_size, entries, m_in, sizeof(floating))
        if not adam and m_ptr == NULL and alpha == 0:
            # Plain sgd: dW(1) is 0 but at the batch's columns, kept apart;
            # the next batch is laid out while this one steps W(1).
            batch_rows.compact_dW = malloc(sizes[1] * min(entries, m_in) * sizeof(floating) + 1)
            if batch_rows.compact_dW == NULL or not nnbp_csr_allocate(
                    &next_rows.rows, batch_size, entries, m_in, sizeof(floating)):
                free(batch_rows.compact_dW)
                nnbp_csr_free(&batch_rows.rows)
                raise MemoryError("no memory for the gradient of the first layer")
            next_rows.rows.indices, next_rows.rows.data = X_csr.indices, X_csr.data
            next_rows.rows.index64 = X_csr.index64
    with nogil:
        if example_rule != NULL and alpha != 0:
            # Each step then keeps it up to date as it writes the weights.
            penalty = l2_penalty(sizes, 0, &params[0], NULL)
        while start < n:
            rows = min(batch_size, n - start)
            if X_sparse != NULL and not first_product_done:
                csr_rows(&X_csr, row_ptr, start, rows, m_in, params[0], &batch_rows.rows)
            if row_ptr == NULL:
                X_rows = &X_dense[start, 0] if X_sparse == NULL else NULL
                Y_rows = Y_ptr + start * m_out if Y_ptr != NULL else NULL
                label_rows = labels_p + start if labels_p != NULL else NULL
                sw_rows = sw_ptr + start if sw_ptr != NULL else NULL
            else:
                if X_sparse == NULL:
                    gather_rows(&X_dense[0, 0], m_in, row_ptr + start, rows, &X_batch[0, 0])
                X_rows = &X_batch[0, 0]
                Y_rows = label_rows = sw_rows = NULL
                if Y_ptr != NULL:
                    gather_rows(Y_ptr, m_out, row_ptr + start, rows, Yb_ptr)
                    Y_rows = Yb_ptr
                if labels_p != NULL:
                    for k in range(rows):
                        labels_b[k] = labels_p[row_ptr[start + k]]
                    label_rows = labels_b
                if sw_ptr != NULL:
                    gather_rows(sw_ptr, 1, row_ptr + start, rows, swb_ptr)
                    sw_rows = swb_ptr
            weight_total = rows
            if sw_rows != NULL:
                weight_total = 0
                for k in range(rows):
                    weight_total += sw_rows[k]
                if weight_total == 0:
                    # A batch without weight says nothing about the loss: skip it.
                    start += rows
                    batch += 1
                    first_product_done = False
                    continue
            step_size = adam_step_size(learning_rate, beta_1, beta_2, step + 1) if adam \
                else learning_rate
            X_next = NULL
            if example_rule != NULL:
                rule.learning_rate = step_size
                if start + 1 < n:
                    X_next = &X_dense[row_ptr[start + 1] if row_ptr != NULL else start + 1, 0]
            compact = X_sparse != NULL and batch_rows.compact_dW != NULL
            if threads > 1 and example_rule == NULL:
                with parallel(num_threads=threads):
                    member = this_thread_of_the_team(shared)
                    batch_step(&member, rows, sizes, &params[0], has_bias, activation,
                               <floating> negative_slope, output, X_rows, NULL, Y_rows,
                               label_rows, sw_rows, weight_total, alpha, &workspace[0],
                               &grad[0], NULL, m_ptr, v_ptr, &penalty, NULL, False,
                               &row_sums[0], 0, params.shape[0], adam, step_size, momentum,
                               nesterov, beta_1, beta_2, epsilon)
            else:
                batch_step(&alone, rows, sizes, &params[0], has_bias, activation,
                           <floating> negative_slope, output, X_rows, X_sparse, Y_rows,
                           label_rows, sw_rows, weight_total, alpha, &workspace[0], &grad[0],
                           example_rule, m_ptr, v_ptr, &penalty, X_next, first_product_done,
                           &row_sums[0], first_weights if compact else 0, params.shape[0],
                           adam, step_size, momentum, nesterov, beta_1, beta_2, epsilon)
            batch_loss = shared[0]
            first_product_done = X_next != NULL
            if not isfinite(batch_loss):
                failed = batch
                break
            accumulated += batch_loss * rows
            if adam:
                step += 1
            if compact:
                # Plain sgd on sparse X: W(1) at the batch's columns only, with
                # the next batch's first product in the same pass.
                first_product_done = csr_column_sgd(
                    &X_csr, &batch_rows, &next_rows.rows, row_ptr, start + rows, n, batch_size,
                    m_in, sizes[1], <floating> learning_rate, &params[0], &workspace[0])
            start += rows
            batch += 1
            if monotonic_seconds() >= next_signal_check:
                if interrupted():
                    stopped_by_signal = True
                    break
                next_signal_check = monotonic_seconds() + SIGNAL_CHECK_SECONDS
    if X_sparse != NULL and batch_rows.compact_dW != NULL:
        free(batch_rows.compact_dW)
        nnbp_csr_free(&next_rows.rows)
    if X_sparse != NULL:
        nnbp_csr_free(&batch_rows.rows)
    if stopped_by_signal:
        raise_pending()
    return accumulated, step, failed


# ---------------------------------------------------------------- for the tests

ELEMENTARY = ("exp", "tanh", "log1p")


def elementary(str name, const floating[::1] x, floating[::1] out):
    """out = exp(x), tanh(x) or log1p(x), by the vectorised functions of csrc/vecmath.h."""
    cdef Py_ssize_t k, which = ELEMENTARY.index(name)
    with nogil:
        for k in range(x.shape[0]):
            out[k] = (nnbp_exp(x[k]) if which == 0 else
                      nnbp_tanh(x[k]) if which == 1 else nnbp_log1p(x[k]))
