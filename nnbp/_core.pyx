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

import numpy as np

from cython cimport floating
from cython.parallel cimport parallel
from libc.math cimport M_PI, ceil, cos, isfinite, pow, sqrt
from libc.stdint cimport int32_t, int64_t, uint64_t
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
    "gelu": NNBP_GELU,
    "silu": NNBP_SILU,
}
OUTPUTS = {"squared": NNBP_SQUARED, "logistic": NNBP_BINARY, "softmax": NNBP_SOFTMAX,
           "poisson": NNBP_POISSON}
# The robust losses of the identity output (nnbp.losses); "canonical": the output's own.
REGRESSION_LOSSES = {"canonical": NNBP_CANONICAL_LOSS, "huber": NNBP_HUBER,
                     "absolute_error": NNBP_ABSOLUTE_ERROR, "quantile": NNBP_QUANTILE}
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
    """C = alpha op(A) op(B) + beta C, row-major, C of shape (m, n).

    (Thirteen parameters: BLAS's own gemm, whose every argument callers set.)
    """
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
# The same cap for C: a team's shared array holds one slot per member after the loss.
cdef enum:
    MOST_MEMBERS = 64


cdef struct team:
    int member            # 0 .. size - 1
    int size
    double *shared        # what the members share: the loss (and, clipping, each
                          # member's sum of squares at 1 + member)


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


# ---------------------------------------------------------------- the model
#
# What belongs to one network, for the compiled functions: its shape, its
# codes, its penalty, its scratch and its team (Model, below, holds one and
# its arrays). A layer is one W(l) and b(l) of it, as the layer functions
# take them. The pointers to a network's numbers are void: a struct cannot
# hold Cython's fused types, and each function reads them as its `floating`.

cdef struct dropout_plan:
    # Inverted dropout on the hidden layers, for the calls that ask for it
    # (Model.set_dropout, set_dropout_masks; unset, nothing drops): the next
    # layer takes A(l) S(l), S(l) = keep / (1 - p_l), keep drawn by csrc's
    # counter-based hash (nnbp_dropout_key, nnbp_dropout_mask) of the seed,
    # the batch's number, the layer, the row and the unit; or S(l) given.
    const double *rates           # p_l of hidden layer l at rates[l - 1]; NULL: drawn by none
    uint64_t seed
    const void *masks             # given S(l), each (n, m_l), one after the other; NULL: drawn


cdef struct model:
    Py_ssize_t depth              # L, the layers with parameters
    const Py_ssize_t *sizes       # m_0, ..., m_L
    Py_ssize_t n_weights          # sum_l m_l m_{l-1}: where the biases start in params
    Py_ssize_t n_params
    bint has_bias
    int activation                # phi of the hidden layers
    double negative_slope         # leaky_relu's slope for z <= 0
    int output                    # the output activation, with its canonical loss
    double alpha                  # the L2 penalty's
    int loss                      # NNBP_CANONICAL_LOSS (the output's), or a robust loss
    double loss_parameter         # the robust loss's: Huber's delta, the quantile
    double *row_sums              # a team's scratch for the penalty: one per unit of 1..L
    int threads                   # the team's size for the call
    dropout_plan dropout          # (zeroed: no dropout)


cdef struct layer:
    Py_ssize_t fan_in, fan_out    # m_{l-1}, m_l
    const void *W                 # (fan_out, fan_in), row-major
    const void *b                 # (fan_out,), or NULL: no bias
    int activation                # phi; NNBP_IDENTITY for the output layer's logits
    double negative_slope


cdef class Model:
    """One network as the compiled functions take it (nnbp.network.Network owns one).

    Model(layer_sizes) holds the sizes and the team's scratch for the
    penalty; configure sets the codes, the penalty and the team's size for
    the next calls, and workspace is the scratch they compute in (an array
    of the parameters' dtype, at least workspace_size(sizes, rows) a copy).
    The owner holds its lock while a call runs.
    """
    cdef model c
    cdef readonly object sizes
    cdef object row_sums
    cdef public object workspace
    cdef object dropout_arrays    # what c.dropout's pointers point into

    def __init__(self, layer_sizes):
        cdef const Py_ssize_t[::1] sizes
        cdef double[::1] row_sums
        self.sizes = np.array(layer_sizes, dtype=np.intp)
        self.row_sums = np.zeros(max(1, sum(layer_sizes[1:])), dtype=np.float64)
        sizes, row_sums = self.sizes, self.row_sums
        self.c.depth = sizes.shape[0] - 1
        self.c.sizes, self.c.row_sums = &sizes[0], &row_sums[0]
        self.c.n_weights = count_weights(sizes)
        self.workspace = None
        self.configure(True, "identity", 0.0, "squared", 0.0, 1)
        self.set_loss("canonical", 0.0)

    def configure(self, bint has_bias, str activation, double negative_slope, str output,
                  double alpha, int threads):
        """The codes, the penalty and the team's size (1 or more) of the next calls."""
        self.c.has_bias, self.c.negative_slope, self.c.alpha = has_bias, negative_slope, alpha
        self.c.activation, self.c.output = ACTIVATIONS[activation], OUTPUTS[output]
        self.c.threads = max(1, threads)
        self.c.n_params = self.c.n_weights + (count_units(&self.c) if has_bias else 0)

    def set_loss(self, str loss, double parameter):
        """The loss of the next calls: "canonical" (the output's own), or a robust loss
        of REGRESSION_LOSSES for the identity output, with its parameter."""
        self.c.loss, self.c.loss_parameter = REGRESSION_LOSSES[loss], parameter

    def workspace_size(self, Py_ssize_t rows):
        """Elements of the workspace for a batch of rows (one copy)."""
        return workspace_elements(&self.c, rows)

    def set_dropout(self, object rates, object seed):
        """Inverted dropout in the next calls: hidden layer l's rate p_l at rates[l - 1]
        (0 <= p_l < 1), its masks drawn from the seed (an int of 0 .. 2^64 - 1) and
        the batch's number (train_epoch's; 0 for a whole-data call). rates None: no
        dropout (nor given masks). The caller checks the rates."""
        cdef const double[::1] view
        self.c.dropout.rates = self.c.dropout.masks = NULL
        self.dropout_arrays = None
        if rates is None:
            return
        self.dropout_arrays = np.ascontiguousarray(rates, dtype=np.float64)
        if self.dropout_arrays.shape != (self.c.depth - 1,):
            raise ValueError(f"dropout needs one rate per hidden layer ({self.c.depth - 1}), "
                             f"got {self.dropout_arrays.shape[0]}")
        view = self.dropout_arrays
        self.c.dropout.rates = &view[0]
        self.c.dropout.seed = seed

    def set_dropout_masks(self, object masks):
        """The next calls multiply each hidden layer's activations A(l) by the given
        factors S(l): masks is one C-contiguous vector of the parameters' dtype, the
        (n, m_l) S(l) of each hidden layer one after the other, n the rows of the
        call. None: no dropout. The caller checks its length and dtype."""
        self.set_dropout(None, 0)
        if masks is not None:
            self.dropout_arrays = masks
            self.c.dropout.masks = array_address(masks)

    @property
    def dropout(self):
        """Whether the next calls drop (by rates or given masks)."""
        return dropout_on(&self.c)

    @property
    def threads(self):
        """The team's size of the next calls."""
        return self.c.threads


cdef Py_ssize_t count_units(const model *m) noexcept nogil:
    """sum_l m_l, l = 1..L: the biases' number."""
    cdef Py_ssize_t l, total = 0
    for l in range(1, m.depth + 1):
        total += m.sizes[l]
    return total


cdef layer layer_of(const model *m, Py_ssize_t l, const void *P, size_t real_size) noexcept nogil:
    """Layer l (1..L) of the model, its W(l) and b(l) in the parameters P."""
    cdef layer out
    out.fan_in, out.fan_out = m.sizes[l - 1], m.sizes[l]
    out.W = <const char *> P + weight_offset(m, l) * real_size
    out.b = <const char *> P + bias_offset(m, l) * real_size if m.has_bias else NULL
    out.activation = m.activation if l < m.depth else NNBP_IDENTITY
    out.negative_slope = m.negative_slope
    return out


cdef inline Py_ssize_t weight_offset(const model *m, Py_ssize_t l) noexcept nogil:
    """Where W(l) starts in the parameters."""
    cdef Py_ssize_t k, offset = 0
    for k in range(1, l):
        offset += m.sizes[k] * m.sizes[k - 1]
    return offset


cdef inline Py_ssize_t bias_offset(const model *m, Py_ssize_t l) noexcept nogil:
    """Where b(l) starts in the parameters (and its units' row sums, less n_weights)."""
    cdef Py_ssize_t k, offset = m.n_weights
    for k in range(1, l):
        offset += m.sizes[k]
    return offset


# ---------------------------------------------------------------- one dense layer

cdef void dense_forward_ptr(const team *t, Py_ssize_t n, const layer *L, const floating *X,
                            floating *Z, floating *A) noexcept nogil:
    """Z = X W^T + b; A = phi(Z), this member's units (A NULL: Z only; X NULL: Z holds X W^T)."""
    cdef Py_ssize_t lo, hi, K = L.fan_in, M = L.fan_out
    cdef const floating *W = <const floating *> L.W
    cdef const floating *b = <const floating *> L.b
    share_of(t, M, &lo, &hi)
    if lo == hi:
        return
    if X == NULL:
        pass
    elif n <= small_rows:
        nnbp_small_xwt(n, hi - lo, K, X, K, W + lo * K, K, Z + lo, M)
    else:
        gemm(c'N', c'T', n, hi - lo, K, 1, X, K, W + lo * K, K, 0, Z + lo, M)
    nnbp_bias_activation(L.activation, <floating> L.negative_slope, n, hi - lo, M,
                         b + lo if b != NULL else NULL, Z + lo, A + lo if A != NULL else NULL)


cdef void dense_backward_ptr(const team *t, Py_ssize_t n, const layer *L, const floating *X,
                             const floating *Z, const floating *A, floating *D,
                             floating *dW, floating *db, floating *dX) noexcept nogil:
    """D = dA * phi'(Z) in place; dW = D^T X; db = column sums of D; dX = D W.

    db and dX are skipped when NULL. Each member takes its units for D, dW
    and db, then, once the whole of D is there, its columns of dX: the units
    of the layer below, whose D it will then take in place. (Ten parameters:
    the layer's inputs, values and the three gradients are separate arrays,
    as in BLAS's own interface.)
    """
    cdef Py_ssize_t lo, hi, K = L.fan_in, M = L.fan_out
    cdef const floating *W = <const floating *> L.W
    share_of(t, M, &lo, &hi)
    if lo < hi:
        nnbp_activation_backward(L.activation, <floating> L.negative_slope, n, hi - lo, M,
                                 Z + lo, A + lo, D + lo, db + lo if db != NULL else NULL)
        if n <= small_rows:
            nnbp_small_dtx(n, hi - lo, K, D + lo, M, X, K, dW + lo * K, K)
        else:
            gemm(c'T', c'N', hi - lo, K, n, 1, D + lo, M, X, K, 0, dW + lo * K, K)
    if dX != NULL:
        input_gradient_share(t, n, D, M, W, K, dX)


cdef void input_gradient_share(const team *t, Py_ssize_t n, const floating *D, Py_ssize_t M,
                               const floating *W, Py_ssize_t K,
                               floating *dX) noexcept nogil:
    """dX = D W, this member's columns of it, once every member's units of D are there."""
    cdef Py_ssize_t lo, hi
    barrier(t)
    share_of(t, K, &lo, &hi)
    if lo == hi:
        return
    if n <= small_rows:
        nnbp_small_dw(n, M, hi - lo, D, M, W + lo, K, dX + lo, K)
    else:
        gemm(c'N', c'N', n, hi - lo, M, 1, D, M, W + lo, K, 0, dX + lo, K)


cdef double l2_penalty(const model *m, floating scale, const floating *P,
                       floating *G) noexcept nogil:
    """sum_l ||W(l)||^2 of the weights in P; and G += scale W unless G is NULL.

    The layers are summed from the last to the first, as the backward pass
    meets them, so that the fused one-example step's running sum of the
    same is the same to the last bit.
    """
    cdef Py_ssize_t l, offset = m.n_weights
    cdef floating *G_l = NULL
    cdef double total = 0
    for l in range(m.depth, 0, -1):
        offset -= m.sizes[l] * m.sizes[l - 1]
        if G != NULL:
            G_l = G + offset
        total += nnbp_l2_penalty(m.sizes[l], m.sizes[l - 1], scale, P + offset, G_l, NULL)
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


cdef layer single_layer(const floating[:, ::1] W, object b, int activation,
                        double negative_slope) except *:
    """The layer of a W and b given apart (nnbp.layers' functions)."""
    cdef layer out
    out.fan_out, out.fan_in = W.shape[0], W.shape[1]
    out.W, out.b = &W[0, 0], optional_ptr(b, W[0, 0])
    out.activation, out.negative_slope = activation, negative_slope
    return out


def dense_forward(const floating[:, ::1] X, const floating[:, ::1] W, object b,
                  int activation, double negative_slope, floating[:, ::1] Z, object A):
    """Z = X W^T + b and A = phi(Z), into the caller's Z and A (A may be None)."""
    cdef layer L = single_layer(W, b, activation, negative_slope)
    cdef floating *A_ptr = <floating *> optional_ptr(A, Z[0, 0])
    cdef double shared[2]
    cdef team alone = one_thread(shared)
    with nogil:
        dense_forward_ptr(&alone, X.shape[0], &L, &X[0, 0], &Z[0, 0], A_ptr)


def dense_backward(const floating[:, ::1] X, const floating[:, ::1] W,
                   const floating[:, ::1] Z, const floating[:, ::1] A, int activation,
                   double negative_slope, floating[:, ::1] D, floating[:, ::1] dW,
                   object db, object dX):
    """From dA held in D: D = dA * phi'(Z) in place, dW, db, dX into the caller's arrays.

    (Ten parameters: nnbp.layers' one layer, its arrays held apart as its
    caller holds them.)
    """
    cdef layer L = single_layer(W, None, activation, negative_slope)
    cdef floating *db_ptr = <floating *> optional_ptr(db, D[0, 0])
    cdef floating *dX_ptr = <floating *> optional_ptr(dX, D[0, 0])
    cdef double shared[2]
    cdef team alone = one_thread(shared)
    with nogil:
        dense_backward_ptr(&alone, X.shape[0], &L, &X[0, 0], &Z[0, 0], &A[0, 0], &D[0, 0],
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


def regression_loss(int loss, double parameter, const floating[:, ::1] Z,
                    const floating[:, ::1] Y, object sample_weight, double scale, object D):
    """sum_i s_i sum_k loss(Z - Y) of a robust loss; D = scale s_i dloss/dZ unless D is None."""
    cdef const floating *sw_ptr = optional_ptr(sample_weight, Z[0, 0])
    cdef floating *D_ptr = <floating *> optional_ptr(D, Z[0, 0])
    cdef double total
    with nogil:
        total = nnbp_regression_loss(loss, parameter, Z.shape[0], Z.shape[1], &Z[0, 0],
                                     &Y[0, 0], sw_ptr, scale, D_ptr)
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


cdef void csr_first_layer_backward(const csr_batch *X, Py_ssize_t n, const layer *L,
                                   const floating *Z, const floating *A, floating *D,
                                   floating *dW, floating *db) noexcept nogil:
    """D = dA * phi'(Z) in place; dW = D^T X (or into X.compact_dW); db = column sums
    of D unless NULL. The input needs no dX."""
    cdef bint compact = X.compact_dW != NULL
    nnbp_activation_backward(L.activation, <floating> L.negative_slope, n, L.fan_out,
                             L.fan_out, Z, A, D, db)
    nnbp_csr_dtx(&X.rows, n, L.fan_out, L.fan_in, D, L.fan_out,
                 <floating *> X.compact_dW if compact else dW, compact)


def csr_layer_forward(object X, const floating[:, ::1] W, object b, int activation,
                      double negative_slope, floating[:, ::1] Z, object A):
    """Z = X W^T + b and A = phi(Z) for a CSR X, into the caller's Z and A (A may be None)."""
    cdef layer L = single_layer(W, b, activation, negative_slope)
    cdef floating *A_ptr = <floating *> optional_ptr(A, Z[0, 0])
    cdef Py_ssize_t n = Z.shape[0]
    cdef csr_batch batch
    cdef double shared[1]
    cdef team alone = one_thread(shared)
    csr_all_rows(X, L.fan_in, &batch, Z[0, 0])
    with nogil:
        csr_first_product(&batch.rows, n, L.fan_in, L.fan_out, &W[0, 0], &Z[0, 0])
        dense_forward_ptr(&alone, n, &L, <const floating *> NULL, &Z[0, 0], A_ptr)
    nnbp_csr_free(&batch.rows)


def csr_layer_backward(object X, const floating[:, ::1] Z, const floating[:, ::1] A,
                       int activation, double negative_slope, floating[:, ::1] D,
                       floating[:, ::1] dW, object db):
    """From dA held in D, for a CSR X: D = dA * phi'(Z) in place, dW = D^T X and db."""
    cdef layer L = single_layer(dW, None, activation, negative_slope)
    cdef floating *db_ptr = <floating *> optional_ptr(db, D[0, 0])
    cdef Py_ssize_t n = D.shape[0]
    cdef csr_batch batch
    csr_all_rows(X, L.fan_in, &batch, D[0, 0])
    with nogil:
        csr_first_layer_backward(&batch, n, &L, &Z[0, 0], &A[0, 0], &D[0, 0], &dW[0, 0],
                                 db_ptr)
    nnbp_csr_free(&batch.rows)


# ---------------------------------------------------------------- a batch
#
# The rows a pass computes on: dense rows of X, or a CSR matrix's rows laid
# out (only the first layer reads X), with their targets (or class labels)
# and weights.

cdef struct batch:
    Py_ssize_t rows
    const void *X                 # (rows, m_0), row-major; NULL when X_sparse holds them
    const csr_batch *X_sparse     # the rows of a CSR X; NULL for dense X
    const void *targets           # (rows, m_L); NULL for the softmax output's labels
    const int64_t *labels         # (rows,) class indices; NULL but for softmax
    const void *sample_weight     # (rows,); NULL: each 1
    double weight_total           # S = sum_i s_i
    bint first_product_done       # Z(1) holds X W(1)^T already, from the step before
    Py_ssize_t number             # its number in the epoch: with the seed, dropout's key


cdef batch batch_of(object data, const void *X, const csr_batch *X_sparse,
                    floating dtype_of) except *:
    """All the rows of checked data (nnbp.network.CheckedData: its targets,
    labels, sample_weight and total), X already as the pointers say."""
    cdef batch b
    b.rows, b.X, b.X_sparse = data.X.shape[0], X, X_sparse
    b.targets = optional_ptr(data.targets, dtype_of)
    b.labels = labels_ptr(data.labels)
    b.sample_weight = optional_ptr(data.sample_weight, dtype_of)
    b.weight_total = data.total
    b.first_product_done = False
    b.number = 0
    return b


# ---------------------------------------------------------------- whole networks
#
# Parameters (see nnbp.network): W(1) ... W(L), each row-major (m_l, m_{l-1}),
# then b(1) ... b(L).
# Workspace for a batch of n rows: Z(l) then A(l) for each hidden layer, then
# Z(L), then two delta buffers of n * max(m_l) that the backward pass
# alternates between.

def workspace_size(sizes, Py_ssize_t n):
    """Number of elements of the workspace for a batch of n rows of a network of sizes."""
    cdef const Py_ssize_t[::1] as_intp = np.asarray(sizes, dtype=np.intp)
    cdef model m
    memset(&m, 0, sizeof(model))
    m.depth, m.sizes = as_intp.shape[0] - 1, &as_intp[0]
    return workspace_elements(&m, n)


cdef Py_ssize_t workspace_elements(const model *m, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t L = m.depth, widest = 0, total = 0, l
    for l in range(1, L + 1):
        total += (2 if l < L else 1) * n * m.sizes[l]
        widest = max(widest, m.sizes[l])
    if dropout_on(m):
        # After the delta buffers: the dropped activations and the factors of
        # each hidden layer (see dropped_values).
        for l in range(1, L):
            total += 2 * n * m.sizes[l]
    return total + 2 * n * widest


cdef floating[::1] workspace_of(Model net, Py_ssize_t rows, Py_ssize_t copies,
                                floating dtype_of):
    """The model's workspace, refused if it has not room for copies of a batch of
    rows' (a ValueError) or is not of the call's dtype (dtype_of's)."""
    cdef Py_ssize_t needed = copies * workspace_elements(&net.c, rows)
    if net.workspace is None or net.workspace.size < needed:
        raise ValueError(f"the model's workspace has not the {needed} elements of "
                         f"{copies} copies of a batch of {rows} rows")
    return net.workspace


cdef Py_ssize_t count_weights(const Py_ssize_t[::1] sizes) noexcept nogil:
    """sum_l m_l m_{l-1}: where the biases start in params."""
    cdef Py_ssize_t l, total = 0
    for l in range(1, sizes.shape[0]):
        total += sizes[l] * sizes[l - 1]
    return total


cdef void forward_pass(const team *t, const model *m, const batch *b, const floating *P,
                       floating *work, floating *Z_last) noexcept nogil:
    """Z(l) and A(l) of each hidden layer into work, in turn; Z(L) into Z_last.

    The team meets after each layer: the next needs all of its inputs.
    """
    cdef Py_ssize_t n = b.rows, l
    cdef bint first_product_done = b.first_product_done
    cdef const floating *inputs = <const floating *> b.X
    cdef floating *Z
    cdef floating *start = work
    cdef layer L
    if b.X_sparse != NULL and not first_product_done:
        # The sparse kernels are one thread's: the first member's.
        if t.member == 0:
            csr_first_product(&b.X_sparse.rows, n, m.sizes[0], m.sizes[1], P,
                              work if m.depth > 1 else Z_last)
        barrier(t)
        first_product_done = True
    if first_product_done:
        inputs = NULL
    for l in range(1, m.depth + 1):
        L = layer_of(m, l, P, sizeof(floating))
        Z = work if l < m.depth else Z_last
        dense_forward_ptr(t, n, &L, inputs, Z, Z + n * m.sizes[l] if l < m.depth else NULL)
        if l < m.depth and dropping(m, l):
            drop_units(t, m, b, l, start)
        barrier(t)
        inputs = Z + n * m.sizes[l]
        if l < m.depth and dropping(m, l):
            inputs = dropped_values(m, n, l, start)
        work += 2 * n * m.sizes[l]


cdef int check_rows_per_step(str name, Py_ssize_t rows) except -1:
    """Refuse a number of rows per step below 1, with which a loop over the rows
    would never end (0) or would run off its arrays (negative)."""
    if rows < 1:
        raise ValueError(f"{name} must be >= 1, got {rows}")
    return 0


def network_forward(Model net, const floating[::1] params, object X, floating[:, ::1] out,
                    Py_ssize_t block_rows):
    """out = f(X): probabilities for the logistic and softmax outputs, e^z for poisson.

    X: a dense array or a CSR matrix. Rows are independent: each of the
    model's threads (at most one a row) takes its share of them (a CSR X:
    one thread), in blocks of block_rows, with its own copy of a block's
    workspace, so that the workspace is threads blocks', however many rows
    X has.
    """
    cdef const model *m = &net.c
    cdef floating[::1] work
    cdef Py_ssize_t n = out.shape[0], per_copy
    cdef int threads
    cdef double shared[1]
    cdef team member
    cdef const floating[:, ::1] X_dense
    cdef csr_matrix X_csr
    check_rows_per_step("block_rows", block_rows)
    if csr_matrix_of(X, &X_csr):
        work = workspace_of(net, block_rows, 1, params[0])
        forward_sparse_rows(m, &params[0], &X_csr, n, &out[0, 0], &work[0], block_rows)
        return
    X_dense = X
    # Each thread takes at least one row.
    threads = min(m.threads, n)
    per_copy = workspace_elements(m, block_rows)
    work = workspace_of(net, block_rows, threads, params[0])
    if threads == 1:
        with nogil:
            forward_rows(m, &params[0], &X_dense[0, 0], n, &out[0, 0], &work[0], block_rows)
        return
    with nogil, parallel(num_threads=threads):
        member = this_thread_of_the_team(shared)
        forward_rows(m, &params[0], &X_dense[n * member.member // member.size, 0],
                     n * (member.member + 1) // member.size - n * member.member // member.size,
                     &out[n * member.member // member.size, 0],
                     &work[0] + member.member * per_copy, block_rows)


cdef void forward_rows(const model *m, const floating *P, const floating *X, Py_ssize_t n,
                       floating *out, floating *work, Py_ssize_t block_rows) noexcept nogil:
    """out = f(X) of n dense rows, block_rows at a time, by the calling thread alone."""
    cdef Py_ssize_t start = 0, width = m.sizes[m.depth]
    cdef double shared[2]
    cdef team alone = one_thread(shared)
    cdef batch b
    b.X_sparse, b.first_product_done = NULL, False
    while start < n:
        b.rows = min(block_rows, n - start)
        b.X = X + start * m.sizes[0]
        forward_pass(&alone, m, &b, P, work, out + start * width)
        nnbp_output_activation(m.output, b.rows, width, out + start * width)
        start += b.rows


cdef int forward_sparse_rows(const model *m, const floating *P, const csr_matrix *X,
                             Py_ssize_t n, floating *out, floating *work,
                             Py_ssize_t block_rows) except -1:
    """out = f(X) of n rows of a CSR X, block_rows at a time, on one thread."""
    cdef Py_ssize_t start = 0, width = m.sizes[m.depth]
    cdef double shared[1]
    cdef team alone = one_thread(shared)
    cdef csr_batch block
    cdef batch b
    allocate_batch(&block, X, block_rows, most_entries(X, n, block_rows, True), m.sizes[0],
                   sizeof(floating))
    b.X, b.X_sparse, b.first_product_done = NULL, &block, False
    with nogil:
        while start < n:
            b.rows = min(block_rows, n - start)
            csr_rows(X, NULL, start, b.rows, m.sizes[0], P[0], &block.rows)
            forward_pass(&alone, m, &b, P, work, out + start * width)
            nnbp_output_activation(m.output, b.rows, width, out + start * width)
            start += b.rows
    nnbp_csr_free(&block.rows)
    return 0


cdef void forget_rows_of_weight_zero(const model *m, const batch *b,
                                     floating *work) noexcept nogil:
    """Zero the hidden layers' Z and A (laid out in work as forward_pass lays
    them) in each row of weight 0.

    Such a row's output delta is 0 (nnbp_output_loss), but the backward pass
    multiplies it by the row's hidden values: where one overflowed to inf,
    0 * inf would be a NaN in the weights' gradient. Zeroed, the row adds
    exactly 0, whatever its values.
    """
    cdef Py_ssize_t l, i, n = b.rows
    cdef const floating *weight = <const floating *> b.sample_weight
    cdef floating *start = work
    for l in range(1, m.depth):
        for i in range(n):
            if weight[i] == 0:
                memset(work + i * m.sizes[l], 0, m.sizes[l] * sizeof(floating))
                memset(work + (n + i) * m.sizes[l], 0, m.sizes[l] * sizeof(floating))
                if dropping(m, l):
                    # The next layer's input then: A(l) S(l).
                    memset(dropped_values(m, n, l, start) + i * m.sizes[l], 0,
                           m.sizes[l] * sizeof(floating))
        work += 2 * n * m.sizes[l]


cdef inline floating *logits_of(const model *m, Py_ssize_t n, floating *work) noexcept nogil:
    """Z(L) in the workspace of a batch of n rows: after the hidden layers' Z and A."""
    return hidden_values(m, n, m.depth, work)


cdef inline floating *deltas_of(const model *m, Py_ssize_t n, floating *work) noexcept nogil:
    """The first of the two delta buffers, after Z(L); the second is n max(m_l) on."""
    return logits_of(m, n, work) + n * m.sizes[m.depth]


cdef inline Py_ssize_t widest_layer(const model *m) noexcept nogil:
    cdef Py_ssize_t l, widest = 0
    for l in range(1, m.depth + 1):
        widest = max(widest, m.sizes[l])
    return widest


cdef double fused_loss(const model *m, const batch *b, const floating *Z,
                       floating *D) noexcept nogil:
    """sum_i s_i loss_i of the batch's logits Z by the output's canonical loss, or by the
    model's robust loss; D(L) = (s_i/S) dloss_i/dz into D unless it is NULL."""
    if m.loss == NNBP_CANONICAL_LOSS:
        return nnbp_output_loss(m.output, b.rows, m.sizes[m.depth], Z,
                                <const floating *> b.targets, b.labels,
                                <const floating *> b.sample_weight, 1.0 / b.weight_total, D)
    return nnbp_regression_loss(m.loss, m.loss_parameter, b.rows, m.sizes[m.depth], Z,
                                <const floating *> b.targets,
                                <const floating *> b.sample_weight, 1.0 / b.weight_total, D)


cdef double batch_loss(const team *t, const model *m, const batch *b, const floating *P,
                       floating *work, bint deltas) noexcept nogil:
    """(1/S) sum_i s_i loss_i by the forward pass, every member's; with deltas, the
    output's D(L) = (s_i/S) (f_i - t_i) into the workspace for the backward pass,
    else the L2 penalty alpha/(2S) sum_l ||W(l)||^2 added."""
    cdef Py_ssize_t n = b.rows
    cdef floating *Z = logits_of(m, n, work)
    cdef double total
    forward_pass(t, m, b, P, work, Z)
    if t.member == 0:
        total = fused_loss(m, b, Z, Z + n * m.sizes[m.depth] if deltas else NULL)
        if deltas and b.sample_weight != NULL and m.depth > 1:
            forget_rows_of_weight_zero(m, b, work)
        total /= b.weight_total
        if m.alpha != 0 and not deltas:
            total += m.alpha / (2 * b.weight_total) * l2_penalty(m, <floating> 0, P, NULL)
        t.shared[0] = total
    barrier(t)
    return t.shared[0]


cdef double backward_pass(const team *t, const model *m, const batch *b, const floating *P,
                          floating *work, floating *G) noexcept nogil:
    """The gradient into G, from the output's deltas that batch_loss left, this
    member's units; returns its rows' part of sum_l ||W(l)||^2, their rows'
    sums in m.row_sums for a team (see team_penalty)."""
    cdef Py_ssize_t n = b.rows, l, lo, hi, w_offset, b_offset
    cdef floating *Z
    cdef floating *A
    cdef floating *D = deltas_of(m, n, work)
    cdef floating *D_next = D + n * widest_layer(m)
    cdef floating *swap
    cdef floating *inputs
    cdef floating penalty_scale = <floating> (m.alpha / b.weight_total)
    cdef double share = 0
    cdef layer L
    for l in range(m.depth, 0, -1):
        L = layer_of(m, l, P, sizeof(floating))
        w_offset, b_offset = weight_offset(m, l), bias_offset(m, l)
        Z = logits_of(m, n, work) if l == m.depth else hidden_values(m, n, l, work)
        A = Z + n * m.sizes[l] if l < m.depth else Z
        inputs = hidden_values(m, n, l - 1, work) + n * m.sizes[l - 1] if l > 1 else NULL
        if l > 1 and dropping(m, l - 1):
            inputs = dropped_values(m, n, l - 1, work)
        if l < m.depth and dropping(m, l):
            # D holds the gradient of the dropped activations: back through S(l).
            share_of(t, m.sizes[l], &lo, &hi)
            nnbp_dropout_apply(n, hi - lo, m.sizes[l],
                               dropout_factors(m, n, l, work) + lo, D + lo, D + lo)
        if l == 1 and b.X_sparse != NULL:
            sparse_first_layer_gradient(t, m, b, &L, Z, A, D, G)
        else:
            dense_backward_ptr(t, n, &L, inputs if l > 1 else <const floating *> b.X, Z, A,
                               D, G + w_offset, G + b_offset if m.has_bias else NULL,
                               D_next if l > 1 else NULL)
        if m.alpha != 0:
            # The penalty's gradient, and its rows' sums, on this member's rows.
            share_of(t, m.sizes[l], &lo, &hi)
            share += nnbp_l2_penalty(hi - lo, m.sizes[l - 1], penalty_scale,
                                     P + w_offset + lo * m.sizes[l - 1],
                                     G + w_offset + lo * m.sizes[l - 1],
                                     m.row_sums + (b_offset - m.n_weights) + lo
                                     if t.size > 1 else NULL)
        swap = D
        D = D_next
        D_next = swap
    return share


cdef inline floating *hidden_values(const model *m, Py_ssize_t n, Py_ssize_t l,
                                    floating *work) noexcept nogil:
    """Z(l) of hidden layer l (1..L-1) in the workspace, A(l) after it; for l = L, Z(L)."""
    cdef Py_ssize_t k
    for k in range(1, l):
        work += 2 * n * m.sizes[k]
    return work


# ---------------------------------------------------------------- dropout
#
# Inverted dropout (the model's dropout_plan): in the forward pass each
# member draws the factors S(l) of its units of hidden layer l (or takes the
# given ones) and the next layer takes A(l) S(l); the backward pass
# multiplies the gradient of those dropped activations by the same S(l),
# then takes phi'(Z(l)) as ever, from Z(l) and A(l), left whole. A mask
# depends on its coordinates alone (csrc's counter-based hash): the same
# whatever the team. Workspace, after the two delta buffers: for each hidden
# layer, A(l) S(l) then S(l).

cdef inline bint dropout_on(const model *m) noexcept nogil:
    """Whether the model's calls drop: by rates, or by given masks."""
    return m.dropout.rates != NULL or m.dropout.masks != NULL


cdef inline bint dropping(const model *m, Py_ssize_t l) noexcept nogil:
    """Whether hidden layer l drops: every layer with given masks, else p_l > 0."""
    return m.dropout.masks != NULL or (m.dropout.rates != NULL and m.dropout.rates[l - 1] > 0)


cdef inline floating *dropped_values(const model *m, Py_ssize_t n, Py_ssize_t l,
                                     floating *work) noexcept nogil:
    """A(l) S(l) of hidden layer l in the workspace of a batch of n rows; S(l) after it."""
    cdef Py_ssize_t k
    work = deltas_of(m, n, work) + 2 * n * widest_layer(m)
    for k in range(1, l):
        work += 2 * n * m.sizes[k]
    return work


cdef inline const floating *dropout_factors(const model *m, Py_ssize_t n, Py_ssize_t l,
                                            floating *work) noexcept nogil:
    """S(l): the given masks' of layer l, or those drop_units drew into the workspace."""
    cdef Py_ssize_t k, before = 0
    if m.dropout.masks == NULL:
        return dropped_values(m, n, l, work) + n * m.sizes[l]
    for k in range(1, l):
        before += n * m.sizes[k]
    return (<const floating *> m.dropout.masks) + before


cdef void drop_units(const team *t, const model *m, const batch *b, Py_ssize_t l,
                     floating *work) noexcept nogil:
    """A(l) S(l) of this member's units of hidden layer l, into the workspace; S(l)
    drawn for them first, unless given: keep with probability 1 - p, scaled by
    1 / (1 - p) (each constant formed in double, then rounded to the dtype)."""
    cdef Py_ssize_t lo, hi, n = b.rows, width = m.sizes[l]
    cdef double rate
    cdef floating *dropped = dropped_values(m, n, l, work)
    cdef const floating *A = hidden_values(m, n, l, work) + n * width
    share_of(t, width, &lo, &hi)
    if lo == hi:
        return
    if m.dropout.masks == NULL:
        rate = m.dropout.rates[l - 1]
        # u = (hash >> 11) 2^-53 is uniform on [0, 1): u >= p exactly when
        # hash >> 11 >= ceil(p 2^53), p 2^53 being exact in double.
        nnbp_dropout_mask(n, hi - lo, width, nnbp_dropout_key(m.dropout.seed, b.number, l), lo,
                          <uint64_t> ceil(rate * 9007199254740992.0), <floating> (1 / (1 - rate)),
                          dropped + n * width + lo)
    nnbp_dropout_apply(n, hi - lo, width, dropout_factors(m, n, l, work) + lo, A + lo,
                       dropped + lo)


def dropout_mask(uint64_t seed, uint64_t step, Py_ssize_t layer, double rate,
                 floating[:, ::1] out):
    """out = the factors S(layer) that the compiled passes draw for a batch of out's
    rows at the batch number step: 1 / (1 - rate) where a unit keeps its activation,
    else 0 (nnbp.reference.dropout_mask computes the same)."""
    with nogil:
        nnbp_dropout_mask(out.shape[0], out.shape[1], out.shape[1],
                          nnbp_dropout_key(seed, step, layer), 0,
                          <uint64_t> ceil(rate * 9007199254740992.0), <floating> (1 / (1 - rate)),
                          &out[0, 0])


cdef void sparse_first_layer_gradient(const team *t, const model *m, const batch *b,
                                      const layer *L, const floating *Z, const floating *A,
                                      floating *D, floating *G) noexcept nogil:
    """dW(1) and db(1) of a sparse X, by the first member alone on the whole of D(1)."""
    # The sparse kernels are one thread's: the others' columns of D(1) first,
    # and the penalty's share of dW(1) after.
    barrier(t)
    if t.member == 0:
        csr_first_layer_backward(b.X_sparse, b.rows, L, Z, A, D, G,
                                 G + bias_offset(m, 1) if m.has_bias else NULL)
    barrier(t)


cdef double team_penalty(const team *t, const model *m, double share) noexcept nogil:
    """sum_l ||W(l)||^2 from the members' shares: a team's from the rows' sums, in the
    order one thread adds them (layer by layer from the last, each from 0), so that
    it is the same to the last bit whatever the team."""
    cdef Py_ssize_t l, k, rows_before = 0
    cdef double layer_sum
    if t.size == 1:
        return share
    share = 0
    for l in range(1, m.depth + 1):
        rows_before += m.sizes[l]
    for l in range(m.depth, 0, -1):
        rows_before -= m.sizes[l]
        layer_sum = 0
        for k in range(m.sizes[l]):
            layer_sum += m.row_sums[rows_before + k]
        share += layer_sum
    return share


cdef double loss_and_gradient(const team *t, const model *m, const batch *b,
                              const floating *P, floating *work, floating *G) noexcept nogil:
    """Loss of the network on the batch; its gradient into G unless G is NULL.

    loss = (1/S) sum_i s_i loss_i + alpha/(2S) sum_l ||W(l)||^2, S = weight_total.
    Every member of the team calls it, and returns the loss; the gradient is
    whole when they return.
    """
    cdef double total = batch_loss(t, m, b, P, work, G != NULL), share
    if G == NULL:
        return total
    share = backward_pass(t, m, b, P, work, G)
    barrier(t)
    if m.alpha != 0:
        if t.member == 0:
            t.shared[0] = total + m.alpha / (2 * b.weight_total) * team_penalty(t, m, share)
        barrier(t)
        total = t.shared[0]
    return total


def network_loss_grad(Model net, const floating[::1] params, object data, object grad):
    """Loss of the network on checked data (nnbp.network.CheckedData); its gradient
    into grad unless grad is None.

    loss = (1/S) sum_i s_i loss_i + alpha/(2S) sum_l ||W(l)||^2, S = data.total.
    X: a dense array or a CSR matrix. A team of the model's threads computes
    it (see "teams of threads"). params are only read.
    """
    cdef floating *G = <floating *> optional_ptr(grad, params[0])
    cdef Py_ssize_t n = data.X.shape[0]
    cdef floating[::1] work = workspace_of(net, n, 1, params[0])
    cdef double shared[1]
    cdef team member
    cdef const floating[:, ::1] X_dense
    cdef csr_batch rows
    cdef batch b
    if csr_all_rows(data.X, net.c.sizes[0], &rows, params[0]):
        b = batch_of(data, NULL, &rows, params[0])
    else:
        X_dense = data.X
        b = batch_of(data, &X_dense[0, 0], NULL, params[0])
    if net.c.threads == 1:
        member = one_thread(shared)
        with nogil:
            loss_and_gradient(&member, &net.c, &b, &params[0], &work[0], G)
    else:
        with nogil, parallel(num_threads=net.c.threads):
            member = this_thread_of_the_team(shared)
            loss_and_gradient(&member, &net.c, &b, &params[0], &work[0], G)
    if b.X_sparse != NULL:
        nnbp_csr_free(&rows.rows)
    return shared[0]


# ---------------------------------------------------------------- any loss's gradient
#
# The backward pass of a gradient that comes from outside (a vector-Jacobian
# product): the caller's gradient of some loss with respect to the outputs f
# or to the logits Z(L) takes the place of the fused loss's D(L), and the
# same recurrences (backward_pass) carry it down. On request, one more
# product, D(1) W(1), gives the gradient with respect to X. No penalty: the
# product is the network's Jacobian alone.

cdef struct upstream_gradient:
    const void *values            # (rows, m_L): dloss/df, or dloss/dZ(L)
    bint of_outputs               # values are dloss/df: taken through phi_out' first
    void *dX                      # (rows, m_0): receives dloss/dX; NULL: not wanted


cdef void place_upstream(const team *t, const model *m, Py_ssize_t n,
                         const upstream_gradient *u, floating *work) noexcept nogil:
    """D(L) = the upstream gradient with respect to Z(L), into the first delta
    buffer: J^T g for a gradient g of the outputs, J phi_out's Jacobian at Z(L)."""
    cdef Py_ssize_t width = m.sizes[m.depth]
    cdef floating *D = deltas_of(m, n, work)
    cdef floating *F = D + n * widest_layer(m)
    if t.member == 0:
        memcpy(D, u.values, n * width * sizeof(floating))
        if u.of_outputs and m.output != NNBP_SQUARED:
            # f = phi_out(Z(L)) into the second delta buffer, which the
            # backward pass only writes from its second layer on.
            memcpy(F, logits_of(m, n, work), n * width * sizeof(floating))
            nnbp_output_activation(m.output, n, width, F)
            nnbp_output_backward(m.output, n, width, F, D)
    barrier(t)


cdef void input_gradient(const team *t, const model *m, Py_ssize_t n, const floating *P,
                         floating *work, floating *dX) noexcept nogil:
    """dX = D(1) W(1), this member's columns, from the D(1) that backward_pass left."""
    # backward_pass alternates between the two delta buffers, D(L) in the
    # first: D(l) is in the first when L - l is even. W(1) starts P.
    cdef floating *D = deltas_of(m, n, work) + ((m.depth - 1) % 2) * n * widest_layer(m)
    input_gradient_share(t, n, D, m.sizes[1], P, m.sizes[0], dX)


cdef void vjp_pass(const team *t, const model *m, const batch *b, const floating *P,
                   floating *work, const upstream_gradient *u, floating *G) noexcept nogil:
    """The gradient of the upstream's loss into G (and its dX), every member's part.
    m's alpha must be 0: the penalty is no part of the network's Jacobian."""
    forward_pass(t, m, b, P, work, logits_of(m, b.rows, work))
    place_upstream(t, m, b.rows, u, work)
    backward_pass(t, m, b, P, work, G)
    if u.dX != NULL:
        input_gradient(t, m, b.rows, P, work, <floating *> u.dX)


cdef batch unlabelled_rows(object X, Py_ssize_t K, csr_batch *rows, floating dtype_of) except *:
    """All the rows of X, with no targets and each of weight 1: a CSR X laid out into
    rows (free it with nnbp_csr_free), a dense X where it lies."""
    cdef batch b
    memset(&b, 0, sizeof(batch))
    b.rows = X.shape[0]
    b.weight_total = b.rows
    if csr_all_rows(X, K, rows, dtype_of):
        b.X_sparse = rows
    else:
        b.X = array_address(X)
    return b


def network_logits(Model net, const floating[::1] params, object X, floating[:, ::1] out):
    """out = Z(L), the logits of X's rows (a dense array or a CSR matrix), by the
    forward pass in the model's workspace, on a team of the model's threads.
    params are only read.
    """
    cdef Py_ssize_t n = X.shape[0]
    cdef floating[::1] work = workspace_of(net, n, 1, params[0])
    cdef floating *Z = logits_of(&net.c, n, &work[0])
    cdef double shared[1]
    cdef team member
    cdef csr_batch rows
    cdef batch b = unlabelled_rows(X, net.c.sizes[0], &rows, params[0])
    if net.c.threads == 1:
        member = one_thread(shared)
        with nogil:
            forward_pass(&member, &net.c, &b, &params[0], &work[0], Z)
    else:
        with nogil, parallel(num_threads=net.c.threads):
            member = this_thread_of_the_team(shared)
            forward_pass(&member, &net.c, &b, &params[0], &work[0], Z)
    memcpy(&out[0, 0], Z, n * net.c.sizes[net.c.depth] * sizeof(floating))
    if b.X_sparse != NULL:
        nnbp_csr_free(&rows.rows)


def network_vjp(Model net, const floating[::1] params, object X,
                const floating[:, ::1] upstream, bint of_outputs, floating[::1] grad,
                object dX):
    """grad = upstream^T d(outputs)/d(params), and dX = upstream^T d(outputs)/dX
    unless dX is None: a vector-Jacobian product, without the penalty.

    upstream: (n, m_L), a loss's gradient with respect to the outputs f
    (of_outputs) or to the logits Z(L) of X's rows. X: a dense array (dX
    allowed) or a CSR matrix (dX None). A team of the model's threads
    computes it, forward pass and backward. params are only read.
    """
    cdef model m = net.c
    cdef Py_ssize_t n = X.shape[0]
    cdef floating[::1] work = workspace_of(net, n, 1, params[0])
    cdef floating[:, ::1] dX_view
    cdef upstream_gradient u
    cdef double shared[1]
    cdef team member
    cdef csr_batch rows
    cdef batch b
    m.alpha = 0
    u.values, u.of_outputs, u.dX = &upstream[0, 0], of_outputs, NULL
    if dX is not None:
        dX_view = dX
        u.dX = &dX_view[0, 0]
    b = unlabelled_rows(X, m.sizes[0], &rows, params[0])
    if m.threads == 1:
        member = one_thread(shared)
        with nogil:
            vjp_pass(&member, &m, &b, &params[0], &work[0], &u, &grad[0])
    else:
        with nogil, parallel(num_threads=m.threads):
            member = this_thread_of_the_team(shared)
            vjp_pass(&member, &m, &b, &params[0], &work[0], &u, &grad[0])
    if b.X_sparse != NULL:
        nnbp_csr_free(&rows.rows)


# ---------------------------------------------------------------- the optimizer
#
# An optimizer as the compiled functions take it: its kind and
# hyperparameters (an nnbp_rule, as csrc's fused one-example step takes
# one), its state and its step count. Every update of the parameters goes
# through update_block: the minibatch step's, the fused step's biases',
# nnbp.optim's SGD and Adam's step (and so the Dask full batch's); the fused
# step's kernel steps the weights by the same rule.

cdef struct optimizer:
    nnbp_rule rule                # the kind and hyperparameters, at the base learning rate
    Py_ssize_t steps              # Adam's t: its updates so far (sgd counts none)
    void *state_1                 # sgd's velocity (NULL: none), or Adam's first moment
    void *state_2                 # Adam's second moment; NULL for sgd
    double weight_decay           # decoupled: p = (1 - lr wd) p before each update (0: none)
    double max_grad_norm          # each batch's gradient clipped to this global norm (0: none)
    bint cosine                   # the learning rate follows cosine_rate's schedule
    Py_ssize_t warmup, horizon    # that schedule's warm-up updates, and all its updates
    Py_ssize_t updates            # the updates made, which the schedule counts (every kind)


cdef class Optimizer:
    """An optimizer as the compiled functions take it (nnbp.optim's SGD and Adam make one).

    Made by Optimizer.sgd or Optimizer.adam. The state vectors are the
    caller's, like the parameters (dtype and length), and are updated in
    place; steps counts Adam's updates, its t.
    """
    cdef optimizer c
    cdef object state             # the arrays c's pointers point into

    @staticmethod
    def sgd(double learning_rate, double momentum, bint nesterov, object velocity):
        """v = mu v - lr g; p += nesterov ? mu v - lr g : v (velocity None: p -= lr g)."""
        cdef Optimizer o = Optimizer.__new__(Optimizer)
        if momentum != 0 and velocity is None:
            # The kernel would take a missing velocity for plain gradient descent.
            raise ValueError("sgd with momentum needs its velocity")
        o.c.rule.adam, o.c.rule.nesterov = False, nesterov
        o.c.rule.learning_rate, o.c.rule.momentum = learning_rate, momentum
        o.c.rule.beta_1 = o.c.rule.beta_2 = o.c.rule.epsilon = 0
        o.c.steps = 0
        o.hold(velocity, None)
        return o

    @staticmethod
    def adam(double learning_rate, double beta_1, double beta_2, double epsilon,
             Py_ssize_t steps, object moments):
        """Adam after `steps` updates (its t), with its moments (m, v)."""
        cdef Optimizer o = Optimizer.__new__(Optimizer)
        if moments[0] is None or moments[1] is None:
            raise ValueError("adam needs its two moments")
        o.c.rule.adam, o.c.rule.nesterov = True, False
        o.c.rule.learning_rate, o.c.rule.momentum = learning_rate, 0
        o.c.rule.beta_1, o.c.rule.beta_2, o.c.rule.epsilon = beta_1, beta_2, epsilon
        o.c.steps = steps
        o.hold(moments[0], moments[1])
        return o

    def decoupled_weight_decay(self, double weight_decay):
        """Decay p = (1 - lr wd) p before each update (lr the scheduled rate, before
        Adam's correction: torch's AdamW); returns the optimizer."""
        if not (weight_decay >= 0 and isfinite(weight_decay)):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
        self.c.weight_decay = weight_decay
        return self

    def clip_grad_norm(self, double max_grad_norm):
        """Clip each batch's gradient g to g min(1, max / (||g|| + 1e-6)) before its
        update, torch's clip_grad_norm_ (0: no clipping); returns the optimizer."""
        if not (max_grad_norm >= 0 and isfinite(max_grad_norm)):
            raise ValueError(f"max_grad_norm must be a finite number >= 0, got {max_grad_norm!r}")
        self.c.max_grad_norm = max_grad_norm
        return self

    def cosine_schedule(self, Py_ssize_t warmup, Py_ssize_t horizon, Py_ssize_t updates):
        """The learning rate on cosine_rate's schedule of `horizon` updates, the first
        `warmup` of them a linear warm-up, `updates` of them made; returns the optimizer."""
        if horizon < 1 or not 0 <= warmup <= horizon or updates < 0:
            raise ValueError(f"a cosine schedule needs 0 <= warmup <= horizon, 1 <= horizon "
                             f"and updates >= 0, got warmup={warmup}, horizon={horizon}, "
                             f"updates={updates}")
        self.c.cosine, self.c.warmup, self.c.horizon = True, warmup, horizon
        self.c.updates = updates
        return self

    @property
    def updates(self):
        """The updates made, as the cosine schedule counts them (every kind counts)."""
        return self.c.updates

    @updates.setter
    def updates(self, Py_ssize_t updates):
        if updates < 0:
            raise ValueError(f"updates must be >= 0, got {updates}")
        self.c.updates = updates

    cdef hold(self, object first, object second):
        self.state = (first, second)
        self.c.state_1 = <void *> array_address(first) if first is not None else NULL
        self.c.state_2 = <void *> array_address(second) if second is not None else NULL

    @property
    def steps(self):
        """Adam's t: the updates made (0 for sgd, which counts none)."""
        return self.c.steps


cdef double adam_step_size(double learning_rate, double beta_1, double beta_2,
                           Py_ssize_t step) noexcept nogil:
    """lr sqrt(1 - b2^t) / (1 - b1^t): Adam's bias correction at step t"""
    return learning_rate * sqrt(1 - pow(beta_2, step)) / (1 - pow(beta_1, step))


def adam_learning_rate(double learning_rate, double beta_1, double beta_2, Py_ssize_t step):
    """lr sqrt(1 - b2^t) / (1 - b1^t): Adam's step size at step t >= 1, as the compiled
    updates take it (nnbp.Adam reports it after an epoch)."""
    return adam_step_size(learning_rate, beta_1, beta_2, step)


cdef double cosine_rate(double base, Py_ssize_t t, Py_ssize_t warmup,
                        Py_ssize_t horizon) noexcept nogil:
    """The learning rate of update t = 0, 1, ...: base (t + 1) / (warmup + 1) while
    t < warmup, then base (1 + cos(pi (t - warmup) / (horizon - warmup))) / 2 until
    t = horizon, then 0. torch's LinearLR(start_factor=1 / (warmup + 1),
    total_iters=warmup), then CosineAnnealingLR(T_max=horizon - warmup), in a
    SequentialLR with milestones=[warmup]."""
    if t < warmup:
        return base * (t + 1) / (warmup + 1)
    if t >= horizon:
        return 0
    return base * (1 + cos(M_PI * (t - warmup) / (horizon - warmup))) / 2


def cosine_learning_rate(double base, Py_ssize_t t, Py_ssize_t warmup, Py_ssize_t horizon):
    """The cosine schedule's learning rate at update t (from 0), as the compiled updates
    take it (see cosine_rate)."""
    return cosine_rate(base, t, warmup, horizon)


cdef nnbp_rule next_rule(const optimizer *o) noexcept nogil:
    """The rule of o's next update: its scheduled rate, decoupled weight decay's lr wd,
    and for Adam its step size at t = steps + 1."""
    cdef nnbp_rule rule = o.rule
    if o.cosine:
        rule.learning_rate = cosine_rate(rule.learning_rate, o.updates, o.warmup, o.horizon)
    # torch's AdamW decays by the scheduled rate, before Adam's bias correction.
    rule.decay = rule.learning_rate * o.weight_decay
    if rule.adam:
        rule.learning_rate = adam_step_size(rule.learning_rate, rule.beta_1, rule.beta_2,
                                            o.steps + 1)
    return rule


cdef void update_block(const nnbp_rule *rule, const optimizer *o, Py_ssize_t offset,
                       Py_ssize_t size, const floating *grad, floating *params) noexcept nogil:
    """params[offset:offset + size] stepped by the rule from their gradient grad[:size],
    with o's state at the same offset."""
    cdef floating *state_1 = (<floating *> o.state_1) + offset if o.state_1 != NULL else NULL
    cdef floating *state_2 = (<floating *> o.state_2) + offset if o.state_2 != NULL else NULL
    # The constants are rounded to the dtype after they are formed in double,
    # as NumPy does with the Python floats of scikit-learn's update.
    if rule.decay != 0:
        # Decoupled weight decay first (torch's AdamW); grad was taken before it.
        nnbp_scale(size, <floating> (1 - rule.decay), params + offset)
    if rule.adam:
        nnbp_adam_update(size, <floating> rule.learning_rate, <floating> rule.beta_1,
                         <floating> (1 - rule.beta_1), <floating> rule.beta_2,
                         <floating> (1 - rule.beta_2), <floating> rule.epsilon, grad, state_1,
                         state_2, params + offset)
    else:
        nnbp_sgd_update(size, <floating> rule.learning_rate, <floating> rule.momentum,
                        rule.nesterov, grad, state_1, params + offset)


cdef double clip_coefficient(double max_norm, double squares) noexcept nogil:
    """min(1, max_norm / (||g|| + 1e-6)) from ||g||^2, torch's clip_grad_norm_'s (its 1e-6
    keeps a zero gradient's division finite)."""
    return min(1.0, max_norm / (sqrt(squares) + 1e-6))


cdef void clip_share(const team *t, double max_norm, Py_ssize_t size,
                     floating *G) noexcept nogil:
    """G[:size] clipped to the global norm max_norm, this member scaling its share.
    The members' sums of squares are added in their order: the same bits for a
    given team size."""
    cdef Py_ssize_t lo, hi, k
    cdef double squares = 0, coefficient
    share_of(t, size, &lo, &hi)
    t.shared[1 + t.member] = nnbp_l2_penalty(1, hi - lo, <floating> 0, G + lo,
                                             <floating *> NULL, NULL)
    barrier(t)
    for k in range(t.size):
        squares += t.shared[1 + k]
    coefficient = clip_coefficient(max_norm, squares)
    if coefficient < 1:
        nnbp_scale(hi - lo, <floating> coefficient, G + lo)


def update(Optimizer optimizer, floating[::1] params, const floating[::1] grad):
    """One update of params from grad, in place, counted by the optimizer; returns the
    learning rate it took (Adam's bias-corrected at its t). With clipping, a grad
    longer than the largest norm is scaled in a copy."""
    cdef nnbp_rule rule = next_rule(&optimizer.c)
    cdef double coefficient
    cdef floating[::1] clipped
    if optimizer.c.max_grad_norm > 0:
        with nogil:
            coefficient = clip_coefficient(optimizer.c.max_grad_norm, nnbp_l2_penalty(
                1, grad.shape[0], <floating> 0, &grad[0], <floating *> NULL, NULL))
        if coefficient < 1:
            clipped = np.array(grad, copy=True)
            nnbp_scale(clipped.shape[0], <floating> coefficient, &clipped[0])
            grad = clipped
    with nogil:
        update_block(&rule, &optimizer.c, 0, params.shape[0], &grad[0], &params[0])
    if rule.adam:
        optimizer.c.steps += 1
    optimizer.c.updates += 1
    return rule.learning_rate


def penalty_sum(Model net, const floating[::1] params):
    """sum_l ||W(l)||^2 of params, in double, in the order the compiled loss sums it."""
    cdef double total
    with nogil:
        total = l2_penalty(&net.c, <floating> 0, &params[0], NULL)
    return total


def all_finite(const floating[::1] x):
    """True if no entry of x is inf or nan; allocates nothing."""
    cdef bint finite
    if x.shape[0] == 0:
        # Nothing to check, and no first element whose address to take.
        return True
    with nogil:
        finite = nnbp_all_finite(x.shape[0], &x[0])
    return finite


# ---------------------------------------------------------------- training

cdef void batch_step(const team *t, const model *m, const optimizer *o, const nnbp_rule *rule,
                     const batch *b, floating *P, floating *G, floating *work) noexcept nogil:
    """A batch's loss into t.shared[0] and, if it is finite, this member's share of
    the update of P from the batch's gradient (in G) by the rule."""
    cdef Py_ssize_t lo, hi, update_from = 0
    if not isfinite(loss_and_gradient(t, m, b, P, work, G)):
        return
    if b.X_sparse != NULL and b.X_sparse.compact_dW != NULL:
        # W(1)'s gradient is kept apart, for the column step (csr_column_sgd).
        update_from = m.sizes[0] * m.sizes[1]
    if o.max_grad_norm > 0:
        # The whole gradient's norm, before any update (no column step then: update_from 0).
        clip_share(t, o.max_grad_norm, m.n_params, G)
    share_of(t, m.n_params - update_from, &lo, &hi)
    update_block(rule, o, lo + update_from, hi - lo, G + lo + update_from, P)


cdef double example_step(const model *m, const nnbp_rule *rule, const optimizer *o,
                         const batch *b, floating *P, floating *work, double *penalty,
                         const floating *X_next) noexcept nogil:
    """One example's loss and, if it is finite, its step: each W(l) read and
    written once, its gradient never stored (the lecture's W <- W - eta d x^T,
    by the rule), on the calling thread.

    penalty holds sum_l ||W(l)||^2 of P, which the step keeps up to date.
    Unless X_next is NULL, the step also computes the next example's first
    product, X_next W(1)^T with the new W(1), into Z(1), while W(1) is in
    cache: the next batch is then first_product_done, and reads W(1) once,
    not twice.
    """
    cdef Py_ssize_t l, w_offset, b_offset
    cdef double shared[1], share = 0
    cdef team alone = one_thread(shared)
    cdef double total = batch_loss(&alone, m, b, P, work, True)
    cdef floating *D = deltas_of(m, 1, work)
    cdef floating *D_next = D + widest_layer(m)
    cdef floating *swap
    cdef floating *Z
    cdef const floating *inputs
    cdef floating penalty_scale = <floating> (m.alpha / b.weight_total)
    if m.alpha != 0:
        total += m.alpha / (2 * b.weight_total) * penalty[0]
    if not isfinite(total):
        return total
    for l in range(m.depth, 0, -1):
        w_offset, b_offset = weight_offset(m, l), bias_offset(m, l)
        Z = logits_of(m, 1, work) if l == m.depth else hidden_values(m, 1, l, work)
        inputs = hidden_values(m, 1, l - 1, work) + m.sizes[l - 1] if l > 1 \
            else <const floating *> b.X
        if l < m.depth:
            nnbp_activation_backward(m.activation, <floating> m.negative_slope, 1, m.sizes[l],
                                     m.sizes[l], Z, Z + m.sizes[l], D, NULL)
        share += nnbp_example_step(
            m.sizes[l], m.sizes[l - 1], D, inputs, penalty_scale if m.alpha != 0 else 0, rule,
            P + w_offset, (<floating *> o.state_1) + w_offset if o.state_1 != NULL else NULL,
            (<floating *> o.state_2) + w_offset if o.state_2 != NULL else NULL,
            D_next if l > 1 else NULL, X_next if l == 1 else NULL, work)
        if m.has_bias:
            # The bias's gradient is d itself.
            update_block(rule, o, b_offset, m.sizes[l], D, P)
        swap = D
        D = D_next
        D_next = swap
    penalty[0] = share
    return total


cdef struct epoch_rows:
    # The rows an epoch passes over, in its order, and room for a batch of them.
    Py_ssize_t n
    const void *X                 # dense X, (n, m_0); NULL for a CSR X
    csr_matrix X_csr              # a CSR X
    const void *targets           # as a batch's, for all n rows
    const int64_t *labels
    const void *sample_weight
    const int64_t *order          # the epoch's order of the rows; NULL: as they lie
    void *X_room                  # with an order: a batch's rows of dense X, gathered
    void *targets_room
    int64_t *labels_room
    void *weight_room
    csr_batch layout              # a CSR X's batch, laid out
    nnbp_csr next_layout          # the column step's next batch (csr_column_sgd)


cdef int prepare_rows(epoch_rows *src, object data, object order, Py_ssize_t batch_size,
                      const model *m, const optimizer *o, floating dtype_of) except -1:
    """src over checked data (nnbp.network.CheckedData) in the order (None: as the
    rows lie), with room for batches of batch_size rows; free it with free_rows,
    also after a MemoryError."""
    cdef const floating[:, ::1] X_dense
    cdef const int64_t[::1] rows_of
    cdef Py_ssize_t entries, m_in = m.sizes[0], m_out = m.sizes[m.depth]
    memset(src, 0, sizeof(epoch_rows))
    src.n = data.X.shape[0]
    src.targets = optional_ptr(data.targets, dtype_of)
    src.labels = labels_ptr(data.labels)
    src.sample_weight = optional_ptr(data.sample_weight, dtype_of)
    if order is not None:
        rows_of = order
        src.order = &rows_of[0]
    if not csr_matrix_of(data.X, &src.X_csr):
        X_dense = data.X
        src.X = &X_dense[0, 0]
    else:
        entries = most_entries(&src.X_csr, src.n, batch_size, src.order == NULL)
        allocate_batch(&src.layout, &src.X_csr, batch_size, entries, m_in, sizeof(floating))
        if (not o.rule.adam and o.state_1 == NULL and m.alpha == 0 and o.weight_decay == 0
                and o.max_grad_norm == 0):
            # Plain sgd: dW(1) is 0 but at the batch's columns, kept apart;
            # the next batch is laid out while this one steps W(1).
            src.layout.compact_dW = malloc(m.sizes[1] * min(entries, m_in) * sizeof(floating) + 1)
            if src.layout.compact_dW == NULL or not nnbp_csr_allocate(
                    &src.next_layout, batch_size, entries, m_in, sizeof(floating)):
                raise MemoryError("no memory for the gradient of the first layer")
            src.next_layout.indices, src.next_layout.data = src.X_csr.indices, src.X_csr.data
            src.next_layout.index64 = src.X_csr.index64
    if src.order != NULL:
        # One more than needed: malloc(0) may give NULL.
        src.X_room = malloc(batch_size * m_in * sizeof(floating) + 1)
        src.targets_room = malloc(batch_size * m_out * sizeof(floating) + 1)
        src.labels_room = <int64_t *> malloc(batch_size * sizeof(int64_t) + 1)
        src.weight_room = malloc(batch_size * sizeof(floating) + 1)
        if (src.X_room == NULL or src.targets_room == NULL or src.labels_room == NULL
                or src.weight_room == NULL):
            raise MemoryError(f"no memory for a batch of {batch_size} rows")
    return 0


cdef void free_rows(epoch_rows *src) noexcept nogil:
    free(src.X_room)
    free(src.targets_room)
    free(src.labels_room)
    free(src.weight_room)
    free(src.layout.compact_dW)
    nnbp_csr_free(&src.layout.rows)
    nnbp_csr_free(&src.next_layout)


cdef void gather_rows(const floating *source, Py_ssize_t width, const int64_t *rows,
                      Py_ssize_t count, floating *target) noexcept nogil:
    """target[k, :] = source[rows[k], :]"""
    cdef Py_ssize_t k
    for k in range(count):
        memcpy(target + k * width, source + rows[k] * width, width * sizeof(floating))


cdef void take_batch(const epoch_rows *src, const model *m, Py_ssize_t start, Py_ssize_t rows,
                     batch *b, floating dtype_of) noexcept nogil:
    """b = the rows start .. start + rows - 1 of the epoch's order: where they lie, or
    gathered into the room (a CSR X's are in src.layout, laid out by the caller)."""
    cdef Py_ssize_t k, m_in = m.sizes[0], m_out = m.sizes[m.depth]
    cdef const floating *weight
    b.rows = rows
    b.X_sparse = &src.layout if src.X == NULL else NULL
    b.X = b.targets = b.sample_weight = b.labels = NULL
    if src.order == NULL:
        if src.X != NULL:
            b.X = (<const floating *> src.X) + start * m_in
        if src.targets != NULL:
            b.targets = (<const floating *> src.targets) + start * m_out
        if src.labels != NULL:
            b.labels = src.labels + start
        if src.sample_weight != NULL:
            b.sample_weight = (<const floating *> src.sample_weight) + start
    else:
        if src.X != NULL:
            gather_rows(<const floating *> src.X, m_in, src.order + start, rows,
                        <floating *> src.X_room)
            b.X = src.X_room
        if src.targets != NULL:
            gather_rows(<const floating *> src.targets, m_out, src.order + start, rows,
                        <floating *> src.targets_room)
            b.targets = src.targets_room
        if src.labels != NULL:
            for k in range(rows):
                src.labels_room[k] = src.labels[src.order[start + k]]
            b.labels = src.labels_room
        if src.sample_weight != NULL:
            gather_rows(<const floating *> src.sample_weight, 1, src.order + start, rows,
                        <floating *> src.weight_room)
            b.sample_weight = src.weight_room
    b.weight_total = rows
    if b.sample_weight != NULL:
        weight = <const floating *> b.sample_weight
        b.weight_total = 0
        for k in range(rows):
            b.weight_total += weight[k]


cdef bint csr_column_sgd(epoch_rows *src, const model *m, const nnbp_rule *rule,
                         Py_ssize_t next_start, Py_ssize_t batch_size, floating *P,
                         floating *Z_next) noexcept nogil:
    """W(1) -= lr dW(1) at the batch's columns, from the compact dW. If rows remain
    from next_start on, the next batch too: laid out (into src.layout, which then
    holds it; src.next_layout is scratch) and its first product into Z_next, with
    the new W(1), in the same pass over it. Returns whether it made that product."""
    cdef nnbp_csr done
    cdef Py_ssize_t rows = min(batch_size, src.n - next_start)
    if rows > 0:
        csr_rows(&src.X_csr, src.order, next_start, rows, m.sizes[0], P[0], &src.next_layout)
    nnbp_csr_column_sgd(&src.layout.rows, m.sizes[1], m.sizes[0], <floating> rule.learning_rate,
                        <const floating *> src.layout.compact_dW, P,
                        &src.next_layout if rows > 0 else NULL, max(rows, 0), Z_next)
    if rows <= 0:
        return False
    done = src.layout.rows
    src.layout.rows = src.next_layout
    src.next_layout = done
    return True


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


cdef struct epoch_outcome:
    double accumulated            # sum over batches of batch loss * batch rows
    Py_ssize_t failed             # the batch whose loss was not finite, or -1
    bint interrupted              # a signal handler raised (Ctrl-C) between batches


cdef epoch_outcome run_epoch(const model *m, optimizer *o, epoch_rows *src, floating *P,
                             floating *G, floating *work, Py_ssize_t batch_size) noexcept nogil:
    """The batches of the epoch in turn, each a step of o (see train_epoch)."""
    cdef epoch_outcome out
    cdef Py_ssize_t start = 0, batch_number = 0
    # Clipping needs the whole gradient's norm before any update: no fused step then.
    # Dropout's masks are the team's passes' (drop_units): no fused step either.
    cdef bint fused = (batch_size == 1 and src.X != NULL and o.max_grad_norm == 0
                       and not dropout_on(m))
    cdef bint first_product_done = False
    cdef double penalty = 0, loss
    cdef double shared[1 + MOST_MEMBERS]
    cdef team alone = one_thread(shared), member
    cdef double next_signal_check = monotonic_seconds() + SIGNAL_CHECK_SECONDS
    cdef const floating *X_next
    cdef nnbp_rule rule
    cdef batch b
    out.accumulated, out.failed, out.interrupted = 0, -1, False
    if fused and m.alpha != 0:
        # Each step then keeps it up to date as it writes the weights.
        penalty = l2_penalty(m, <floating> 0, P, NULL)
    while start < src.n:
        b.rows = min(batch_size, src.n - start)
        if src.X == NULL and not first_product_done:
            csr_rows(&src.X_csr, src.order, start, b.rows, m.sizes[0], P[0], &src.layout.rows)
        take_batch(src, m, start, b.rows, &b, P[0])
        b.first_product_done = first_product_done
        b.number = batch_number
        first_product_done = False
        if b.weight_total == 0:
            # A batch without weight says nothing about the loss: skip it.
            start += b.rows
            batch_number += 1
            continue
        rule = next_rule(o)
        if fused:
            X_next = NULL
            if start + 1 < src.n:
                X_next = (<const floating *> src.X) + m.sizes[0] * (
                    src.order[start + 1] if src.order != NULL else start + 1)
            loss = example_step(m, &rule, o, &b, P, work, &penalty, X_next)
            first_product_done = X_next != NULL
        elif m.threads > 1:
            with parallel(num_threads=m.threads):
                member = this_thread_of_the_team(shared)
                batch_step(&member, m, o, &rule, &b, P, G, work)
            loss = shared[0]
        else:
            batch_step(&alone, m, o, &rule, &b, P, G, work)
            loss = shared[0]
        if not isfinite(loss):
            out.failed = batch_number
            break
        out.accumulated += loss * b.rows
        if rule.adam:
            o.steps += 1
        o.updates += 1
        if src.layout.compact_dW != NULL:
            # Plain sgd on sparse X: W(1) at the batch's columns only, with
            # the next batch's first product in the same pass.
            first_product_done = csr_column_sgd(src, m, &rule, start + b.rows, batch_size, P,
                                                work)
        start += b.rows
        batch_number += 1
        if monotonic_seconds() >= next_signal_check:
            if interrupted():
                out.interrupted = True
                break
            next_signal_check = monotonic_seconds() + SIGNAL_CHECK_SECONDS
    return out


def train_epoch(Model net, Optimizer optimizer, floating[::1] params, floating[::1] grad,
                object data, object order, Py_ssize_t batch_size):
    """One epoch of minibatch sgd or adam over checked data, compiled.

    data: nnbp.network.CheckedData. Batches are the rows order[k:k + batch_size]
    (order None: the rows as they lie, read in place); shuffled rows are
    gathered. The optimizer's learning rate is fixed for the epoch (Adam
    corrects it at every step, counting its steps), unless it follows the
    cosine schedule, which moves it at every update; each update first
    decays the parameters by the optimizer's decoupled weight decay, and
    clips the batch's gradient to its largest norm. Returns (sum over batches
    of batch loss * batch rows, the index of the batch whose loss was not
    finite or -1). That batch's update is not made: params are those that
    gave the non-finite loss.

    A team of the model's threads takes each batch (see "teams of threads"),
    loss, gradient and update. Batches of one row (batch_size 1) step each
    layer in one pass over its weights, without forming the gradient
    (example_step), on one thread: the same updates, and grad is left as it
    was. Not with clipping, which needs the whole gradient's norm before any
    update: those batches form it, as larger ones do.

    X is a dense array or a CSR matrix, whose batches are laid out from its
    rows where they lie, on one thread. With it, plain sgd (no momentum,
    alpha 0) steps only the columns of W(1) of the features in the batch, the
    others' gradient being 0: their gradient is kept apart, and grad's W(1)
    is left as it was (not with weight decay or clipping, which touch every
    weight). That step also computes the next batch's first
    product with the new W(1), in the same pass over it.

    With the model's dropout (Model.set_dropout), each batch's passes drop
    hidden units by the masks of its number in the epoch (see drop_units);
    no fused step then.

    Signal handlers run between batches (every SIGNAL_CHECK_SECONDS): Ctrl-C
    raises KeyboardInterrupt there, with params part-way through the epoch.
    """
    cdef model m = net.c
    cdef floating[::1] work
    cdef epoch_rows src
    cdef epoch_outcome out
    check_rows_per_step("batch_size", batch_size)
    work = workspace_of(net, batch_size, 1, params[0])
    memset(&src, 0, sizeof(epoch_rows))
    try:
        prepare_rows(&src, data, order, batch_size, &m, &optimizer.c, params[0])
        if src.X == NULL:
            # The sparse kernels and the column step are one thread's.
            m.threads = 1
        with nogil:
            out = run_epoch(&m, &optimizer.c, &src, &params[0], &grad[0], &work[0], batch_size)
    finally:
        free_rows(&src)
    if out.interrupted:
        raise_pending()
    return out.accumulated, out.failed

# ---------------------------------------------------------------- for the tests

ELEMENTARY = ("exp", "tanh", "log1p", "erf")


def elementary(str name, const floating[::1] x, floating[::1] out):
    """out = exp(x), tanh(x), log1p(x) or erf(x), by the vectorised functions of csrc/vecmath.h."""
    cdef Py_ssize_t k, which = ELEMENTARY.index(name)
    with nogil:
        for k in range(x.shape[0]):
            out[k] = (nnbp_exp(x[k]) if which == 0 else
                      nnbp_tanh(x[k]) if which == 1 else
                      nnbp_log1p(x[k]) if which == 2 else nnbp_erf(x[k]))
