/* nnbp's kernels: activations, fused output losses, column sums, the L2
 * penalty, optimizer updates, the small products and the fused one-example
 * step, and the first layer's on sparse input. Each one's interface is
 * written once, in csrc/kernel_list.py.
 *
 * Plain C99, no Python.h. Every kernel on reals comes in float (_f32) and double (_f64);
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
    NNBP_SOFTPLUS = 5,
    NNBP_GELU = 6,      /* exact, erf-based: z Phi(z) */
    NNBP_SILU = 7       /* z sigma(z) */
};

/* Output activations, each paired with its canonical loss. */
enum nnbp_output {
    NNBP_SQUARED = 0,   /* identity output, 1/2 squared error   */
    NNBP_BINARY = 1,    /* sigmoid output, binary cross-entropy  */
    NNBP_SOFTMAX = 2,   /* softmax output, multiclass cross-entropy */
    NNBP_POISSON = 3    /* exp output, half Poisson deviance (scikit-learn's) */
};

/* Losses of the identity output other than its canonical squared error: the
 * regressor's robust losses of the residual r = z - y (nnbp.losses). */
enum nnbp_regression_loss {
    NNBP_CANONICAL_LOSS = 0,    /* none: the output's canonical loss */
    NNBP_HUBER = 1,             /* 1/2 r^2 for |r| <= delta, else delta (|r| - delta/2) */
    NNBP_ABSOLUTE_ERROR = 2,    /* |r| */
    NNBP_QUANTILE = 3           /* pinball: -q r for r <= 0, (1 - q) r for r > 0 */
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
 * p -= lr g); or adam, with learning_rate its step size at this step.
 * decay is decoupled weight decay's lr wd at this step: p = (1 - decay) p
 * before the rule, whose g is taken at the p before it (0: no decay). */
struct nnbp_rule {
    int adam;
    double learning_rate, momentum, beta_1, beta_2, epsilon;
    int nesterov;
    double decay;
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

/* Dropout's masks come from a counter-based hash, so that a mask depends
 * only on its coordinates, never on the thread that draws it: unit j of row
 * i of hidden layer l at step t keeps its activation when
 * nnbp_mix64(key + G (2^32 i + j)) >> 11 >= threshold, where key =
 * nnbp_dropout_key(seed, t, l) and threshold = ceil(p 2^53): the top 53 bits
 * are a uniform draw u of [0, 1) in steps of 2^-53, and u >= p keeps the unit
 * with probability 1 - p (within 2^-53). G is the golden ratio's 2^64 / phi
 * and nnbp_mix64 the finaliser of splitmix64 (Steele, Lea and Flood, 2014):
 * key + G k is the k-th state of a splitmix64 stream, a bijection of k,
 * so that no two units of a step share a draw. nnbp.reference computes the
 * same with Python's integers. */
#define NNBP_GOLDEN UINT64_C(0x9E3779B97F4A7C15)

static inline uint64_t nnbp_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* The kernels' declarations, generated from csrc/kernel_list.py (each kernel
 * with its one-line math). The dense kernels are compiled for the x86-64
 * baseline, AVX2 and AVX-512 and dispatched at run time (kernels.c); the
 * sparse ones (sparse.c) and nnbp_all_finite_* are one build for every
 * processor. */
#include "nnbp_kernels_declared.h"

#endif
