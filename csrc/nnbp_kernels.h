/* nnbp's elementwise kernels: activations, fused output losses, column sums,
 * optimizer updates.
 *
 * Plain C99, no Python.h. Every kernel comes in float (_f32) and double (_f64);
 * matrices are C-contiguous (row-major), n rows of m columns. The matrix
 * products live in the Cython core (BLAS); everything here is O(n m), but
 * the small products and the first layer's on sparse (CSR) input, in
 * csrc/sparse.c.
 */
#ifndef NNBP_KERNELS_H
#define NNBP_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Hidden activations; the numbering is shared with nnbp/_core.pyx. */
enum nnbp_activation {
    NNBP_IDENTITY = 0,
    NNBP_LOGISTIC = 1,
    NNBP_TANH = 2,
    NNBP_RELU = 3,
    NNBP_LEAKY_RELU = 4,
    NNBP_SOFTPLUS = 5
};

/* Output activations, each paired with its canonical loss. */
enum nnbp_output {
    NNBP_SQUARED = 0,   /* identity output, 1/2 squared error   */
    NNBP_BINARY = 1,    /* sigmoid output, binary cross-entropy  */
    NNBP_SOFTMAX = 2,   /* softmax output, multiclass cross-entropy */
    NNBP_POISSON = 3    /* exp output, half Poisson deviance (scikit-learn's) */
};

/* Instruction sets the kernels are compiled for. */
enum nnbp_isa {
    NNBP_ISA_QUERY = -2,    /* a request: change nothing */
    NNBP_ISA_BEST = -1,     /* a request: the best this processor runs */
    NNBP_ISA_BASELINE = 0,  /* x86-64 (SSE2), or whatever the compiler targets */
    NNBP_ISA_AVX2 = 1,
    NNBP_ISA_AVX512 = 2     /* AVX-512 F */
};

/* An optimizer's rule for the fused one-example step, its constants in
 * double (each kernel rounds them to its type, as the flat updates' callers do):
 * sgd, v = mu v - lr g and p += nesterov ? mu v - lr g : v (no velocity:
 * p -= lr g); or adam, with learning_rate its step size at this step. */
struct nnbp_rule {
    int adam;
    double learning_rate, momentum, beta_1, beta_2, epsilon;
    int nesterov;
};

/* A batch of rows of a CSR matrix of K columns, the first layer's input
 * when it is sparse. The caller sets the rows: row r holds the entries
 * start[r] .. end[r] - 1 of indices (its columns, int64 or int32 as index64
 * says) and data (float or double, the kernels' type); columns in any
 * order, a repeated one adding up, explicit zeros entries like any other.
 * nnbp_csr_columns_* lays the batch out by columns for the other kernels:
 * its n_columns distinct columns, ascending; for each entry in row order,
 * its column's place among them (slot); and the entries column by column,
 * rows ascending (column j's are first[j] .. first[j + 1] - 1: their rows
 * and values). nnbp_csr_allocate makes room for batches of up to `rows`
 * rows and `entries` entries. */
struct nnbp_csr {
    int64_t *start, *end;
    const void *indices;
    const void *data;
    int index64;
    size_t n_columns;
    int64_t *columns;
    int32_t *slot;
    int64_t *first;
    int32_t *entry_row;
    void *entry_value;
    int32_t *place;     /* K: -1, but for a column's place while laying out */
    void *scratch;      /* a few rows of W, or of D^T, at a time */
};

/* 1 if done, 0 if out of memory (nothing then to free). */
int nnbp_csr_allocate(struct nnbp_csr *X, size_t rows, size_t entries, size_t K,
                      size_t real_size);
void nnbp_csr_free(struct nnbp_csr *X);

/* 1 if none of x[0..n) is inf or nan, else 0; reads no further than the first. */
int nnbp_all_finite_f32(size_t n, const float *x);
int nnbp_all_finite_f64(size_t n, const double *x);

/* Selects the kernels' instruction set (AVX2 and AVX-512 only where the
 * processor has them); returns the one in use. Not thread-safe: call it before computing. */
int nnbp_select_isa(int requested);

#define NNBP_DECLARE(REAL, SUFFIX)                                              \
    void nnbp_bias_activation_##SUFFIX(int activation, REAL negative_slope,     \
        size_t n, size_t m, size_t ld, const REAL *bias, REAL *Z, REAL *A);     \
    void nnbp_activation_backward_##SUFFIX(int activation, REAL negative_slope, \
        size_t n, size_t m, size_t ld, const REAL *Z, const REAL *A, REAL *D,   \
        REAL *column_sums);                                                     \
    void nnbp_output_activation_##SUFFIX(int output, size_t n, size_t m,        \
        REAL *Z);                                                               \
    double nnbp_output_loss_##SUFFIX(int output, size_t n, size_t m,            \
        const REAL *Z, const REAL *Y, const int64_t *labels,                    \
        const REAL *sample_weight, double scale, REAL *D);                      \
    double nnbp_l2_penalty_##SUFFIX(size_t M, size_t K, REAL scale,            \
        const REAL *W, REAL *G, double *row_sums);                              \
    void nnbp_sgd_update_##SUFFIX(size_t size, REAL learning_rate,              \
        REAL momentum, int nesterov, const REAL *grad, REAL *velocity,          \
        REAL *params);                                                          \
    void nnbp_adam_update_##SUFFIX(size_t size, REAL learning_rate,             \
        REAL beta_1, REAL one_minus_beta_1, REAL beta_2, REAL one_minus_beta_2, \
        REAL epsilon, const REAL *grad, REAL *m, REAL *v, REAL *params);       \
    void nnbp_small_xwt_##SUFFIX(size_t n, size_t M, size_t K, const REAL *X,   \
        size_t ldx, const REAL *W, size_t ldw, REAL *Z, size_t ldz);            \
    void nnbp_small_dw_##SUFFIX(size_t n, size_t M, size_t K, const REAL *D,    \
        size_t ldd, const REAL *W, size_t ldw, REAL *dX, size_t ldx);           \
    void nnbp_small_dtx_##SUFFIX(size_t n, size_t M, size_t K, const REAL *D,   \
        size_t ldd, const REAL *X, size_t ldx, REAL *dW, size_t ldw);           \
    double nnbp_example_step_##SUFFIX(size_t M, size_t K, const REAL *d,        \
        const REAL *x, REAL scale, const struct nnbp_rule *rule, REAL *W,       \
        REAL *state_1, REAL *state_2, REAL *dx, const REAL *x_next,             \
        REAL *z_next);

/* The sparse kernels (csrc/sparse.c), on a batch of n CSR rows laid out
 * by columns (nnbp_csr_columns_*), W M-by-K:
 * csr_xwt: Z = X W^T, Z[r, i] at Z + r ldz + i;
 * csr_dtx: dW = D^T X, D[r, i] at D + r ldd + i (compact: dW M-by-n_columns,
 *   at the batch's columns only);
 * csr_column_sgd: W -= learning_rate dW at the batch's columns, dW compact;
 *   then, unless next is NULL, Z_next = next W^T (n_next rows) with the new W. */
#define NNBP_DECLARE_SPARSE(REAL, SUFFIX)                                       \
    void nnbp_csr_columns_##SUFFIX(struct nnbp_csr *X, size_t n, size_t K);     \
    void nnbp_csr_xwt_##SUFFIX(const struct nnbp_csr *X, size_t n, size_t M,    \
        size_t K, const REAL *W, REAL *Z, size_t ldz);                          \
    void nnbp_csr_dtx_##SUFFIX(const struct nnbp_csr *X, size_t n, size_t M,    \
        size_t K, const REAL *D, size_t ldd, REAL *dW, int compact);            \
    void nnbp_csr_column_sgd_##SUFFIX(const struct nnbp_csr *X, size_t M,       \
        size_t K, REAL learning_rate, const REAL *dW, REAL *W,                  \
        const struct nnbp_csr *next, size_t n_next, REAL *Z_next);

NNBP_DECLARE(float, f32)
NNBP_DECLARE(double, f64)
NNBP_DECLARE_SPARSE(float, f32)
NNBP_DECLARE_SPARSE(double, f64)

#undef NNBP_DECLARE
#undef NNBP_DECLARE_SPARSE

#endif
