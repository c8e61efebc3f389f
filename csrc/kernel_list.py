"""The one list of nnbp's C kernels: each one's name, C signature, dtypes and dispatch.

csrc/generate_kernels.py writes, from this list alone, the kernels'
declarations (csrc/nnbp_kernels_declared.h, included by nnbp_kernels.h),
their run-time dispatchers (csrc/kernels_dispatch.h, included by
kernels.c), their Cython declarations (nnbp/_kernels.pxd) and the fused-type
shims that pick the float or double kernel (nnbp/_kernels.pxi, included by
nnbp/_core.pyx). tests/test_kernel_list.py checks that the checked-in files
are what it writes. To add or change a kernel: edit this list and its
definition (kernels_impl.h, sparse_impl.h or kernels.c), then run
``python csrc/generate_kernels.py``.

A signature writes the real type as REAL: the kernel of each dtype takes
float (suffix _f32) or double (_f64) there. A kernel without dtypes is one C
function of that very name. A dispatched kernel is compiled once per
instruction set of ISAS by kernels_impl.h and called through a dispatcher
that picks the one nnbp_select_isa chose; the others are one build for every
processor. ``doc`` is the kernel's one-line math, as a comment in the C
header and the docstring of its shim.
"""
from typing import NamedTuple, Tuple


class Kernel(NamedTuple):
    """One C kernel: ``returns name_<dtype>(params)``."""

    name: str
    returns: str
    params: Tuple[str, ...]
    doc: str
    dtypes: Tuple[str, ...] = ("f32", "f64")
    dispatched: bool = False
    header: str = "nnbp_kernels.h"


# The instruction sets of the dispatched kernels, in kernels.c's suffixes.
ISAS = ("baseline", "avx2", "avx512")

# The C type of REAL for each dtype suffix.
REALS = {"f32": "float", "f64": "double"}

KERNELS = (
    # ------------------------------------------------ not per dtype
    Kernel("nnbp_csr_allocate", "int",
           ("struct nnbp_csr *X", "size_t rows", "size_t entries", "size_t K",
            "size_t real_size"),
           "room for batches of up to rows rows and entries entries: 1 if done, "
           "0 if out of memory (nothing then to free)", dtypes=()),
    Kernel("nnbp_csr_free", "void", ("struct nnbp_csr *X",),
           "frees what nnbp_csr_allocate made", dtypes=()),
    Kernel("nnbp_select_isa", "int", ("int requested",),
           "selects the kernels' instruction set (AVX2 and AVX-512 only where the "
           "processor has them); returns the one in use. Not thread-safe: call it "
           "before computing", dtypes=()),
    # ------------------------------------------------ kernels.c, one build
    Kernel("nnbp_dropout_key", "uint64_t", ("uint64_t seed", "uint64_t step", "uint64_t layer"),
           "mix64 of (mix64 of seed + G (step + 1)) + G layer: the key of dropout's "
           "masks of one layer at one step", dtypes=()),
    Kernel("nnbp_all_finite", "int", ("size_t n", "const REAL *x"),
           "1 if none of x[0..n) is inf or nan, else 0; reads no further than the first"),
    # ------------------------------------------------ kernels_impl.h, per instruction set
    Kernel("nnbp_bias_activation", "void",
           ("int activation", "REAL negative_slope", "size_t n", "size_t m", "size_t ld",
            "const REAL *bias", "REAL *Z", "REAL *A"),
           "Z += bias; A = phi(Z): n rows of m columns, ld apart (bias or A NULL: skipped)",
           dispatched=True),
    Kernel("nnbp_activation_backward", "void",
           ("int activation", "REAL negative_slope", "size_t n", "size_t m", "size_t ld",
            "const REAL *Z", "const REAL *A", "REAL *D", "REAL *column_sums"),
           "D = dA * phi'(Z) in place; column_sums = column sums of D unless NULL; "
           "rows ld apart", dispatched=True),
    Kernel("nnbp_output_activation", "void",
           ("int output", "size_t n", "size_t m", "REAL *Z"),
           "Z = phi_out(Z) in place", dispatched=True),
    Kernel("nnbp_output_loss", "double",
           ("int output", "size_t n", "size_t m", "const REAL *Z", "const REAL *Y",
            "const int64_t *labels", "const REAL *sample_weight", "double scale", "REAL *D"),
           "sum_i s_i loss_i from the logits Z; D = scale s_i (f_i - t_i) unless NULL",
           dispatched=True),
    Kernel("nnbp_output_backward", "void",
           ("int output", "size_t n", "size_t m", "const REAL *F", "REAL *D"),
           "D = J^T D in place, J the Jacobian of f = phi_out(z) at each row of F = f",
           dispatched=True),
    Kernel("nnbp_regression_loss", "double",
           ("int loss", "double parameter", "size_t n", "size_t m", "const REAL *Z",
            "const REAL *Y", "const REAL *sample_weight", "double scale", "REAL *D"),
           "sum_i s_i sum_k loss(z_ik - y_ik) of a robust loss (parameter: Huber's delta, "
           "the quantile); D = scale s_i dloss/dz unless NULL", dispatched=True),
    Kernel("nnbp_l2_penalty", "double",
           ("size_t M", "size_t K", "REAL scale", "const REAL *W", "REAL *G",
            "double *row_sums"),
           "sum W^2 over M rows of K weights (each row's into row_sums too unless NULL); "
           "G += scale W unless G is NULL", dispatched=True),
    Kernel("nnbp_sgd_update", "void",
           ("size_t size", "REAL learning_rate", "REAL momentum", "int nesterov",
            "const REAL *grad", "REAL *velocity", "REAL *params"),
           "v = mu v - lr g; p += nesterov ? mu v - lr g : v (v NULL: p -= lr g)",
           dispatched=True),
    Kernel("nnbp_adam_update", "void",
           ("size_t size", "REAL learning_rate", "REAL beta_1", "REAL one_minus_beta_1",
            "REAL beta_2", "REAL one_minus_beta_2", "REAL epsilon", "const REAL *grad",
            "REAL *m", "REAL *v", "REAL *params"),
           "m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr m / (sqrt(v) + eps)",
           dispatched=True),
    Kernel("nnbp_scale", "void", ("size_t size", "REAL factor", "REAL *x"),
           "x *= factor", dispatched=True),
    Kernel("nnbp_dropout_mask", "void",
           ("size_t n", "size_t m", "size_t ld", "uint64_t key", "size_t first_unit",
            "uint64_t threshold", "REAL scale", "REAL *S"),
           "S[i, j] = scale if mix64 of key + G (2^32 i + first_unit + j), shifted right by "
           "11, >= threshold, else 0: n rows of m columns, ld apart", dispatched=True),
    Kernel("nnbp_dropout_apply", "void",
           ("size_t n", "size_t m", "size_t ld", "const REAL *S", "const REAL *X", "REAL *Y"),
           "Y = X * S elementwise (Y may be X): n rows of m columns, ld apart",
           dispatched=True),
    Kernel("nnbp_small_xwt", "void",
           ("size_t n", "size_t M", "size_t K", "const REAL *X", "size_t ldx",
            "const REAL *W", "size_t ldw", "REAL *Z", "size_t ldz"),
           "Z = X W^T", dispatched=True),
    Kernel("nnbp_small_dw", "void",
           ("size_t n", "size_t M", "size_t K", "const REAL *D", "size_t ldd",
            "const REAL *W", "size_t ldw", "REAL *dX", "size_t ldx"),
           "dX = D W", dispatched=True),
    Kernel("nnbp_small_dtx", "void",
           ("size_t n", "size_t M", "size_t K", "const REAL *D", "size_t ldd",
            "const REAL *X", "size_t ldx", "REAL *dW", "size_t ldw"),
           "dW = D^T X", dispatched=True),
    Kernel("nnbp_example_step", "double",
           ("size_t M", "size_t K", "const REAL *d", "const REAL *x", "REAL scale",
            "const struct nnbp_rule *rule", "REAL *W", "REAL *state_1", "REAL *state_2",
            "REAL *dx", "const REAL *x_next", "REAL *z_next"),
           "dx = W^T d; W stepped by the rule (g = d x^T + scale W); z_next = W x_next; "
           "-> sum W^2", dispatched=True),
    # ------------------------------------------------ sparse_impl.h, one build
    Kernel("nnbp_csr_columns", "void", ("struct nnbp_csr *X", "size_t n", "size_t K"),
           "lays the batch's n rows out by columns (see struct nnbp_csr)"),
    Kernel("nnbp_csr_xwt", "void",
           ("const struct nnbp_csr *X", "size_t n", "size_t M", "size_t K", "const REAL *W",
            "REAL *Z", "size_t ldz"),
           "Z = X W^T, Z[r, i] at Z + r ldz + i"),
    Kernel("nnbp_csr_dtx", "void",
           ("const struct nnbp_csr *X", "size_t n", "size_t M", "size_t K", "const REAL *D",
            "size_t ldd", "REAL *dW", "int compact"),
           "dW = D^T X, D[r, i] at D + r ldd + i (compact: dW M-by-n_columns, at the "
           "batch's columns only)"),
    Kernel("nnbp_csr_column_sgd", "void",
           ("const struct nnbp_csr *X", "size_t M", "size_t K", "REAL learning_rate",
            "const REAL *dW", "REAL *W", "const struct nnbp_csr *next", "size_t n_next",
            "REAL *Z_next"),
           "W -= learning_rate dW at the batch's columns, dW compact; then, unless next "
           "is NULL, Z_next = next W^T (n_next rows) with the new W"),
    # ------------------------------------------------ vecmath.h, static inline
    Kernel("nnbp_exp", "REAL", ("REAL x",), "e^x", header="vecmath.h"),
    Kernel("nnbp_tanh", "REAL", ("REAL x",), "tanh(x)", header="vecmath.h"),
    Kernel("nnbp_log1p", "REAL", ("REAL t",), "log(1 + t)", header="vecmath.h"),
    Kernel("nnbp_erf", "REAL", ("REAL x",), "erf(x)", header="vecmath.h"),
)
