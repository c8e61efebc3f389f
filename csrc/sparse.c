/* The first layer's kernels on a sparse input (CSR rows): its product
 * X W^T and its gradient D^T X, and plain sgd on the columns of a batch.
 *
 * Instantiates csrc/sparse_impl.h for float and double, each with int32 and
 * int64 indices, and exports the functions of nnbp_kernels.h, which pick the
 * index type. One build for every processor: the loads are gathers and the
 * stores scatters, which wider registers would not speed up.
 */
#include <string.h>
#include "nnbp_kernels.h"

#define REAL float
#define INDEX int32_t
#define SUFFIX f32_i32
#include "sparse_impl.h"
#undef INDEX
#undef SUFFIX
#define INDEX int64_t
#define SUFFIX f32_i64
#include "sparse_impl.h"
#undef INDEX
#undef SUFFIX
#undef REAL

#define REAL double
#define INDEX int32_t
#define SUFFIX f64_i32
#include "sparse_impl.h"
#undef INDEX
#undef SUFFIX
#define INDEX int64_t
#define SUFFIX f64_i64
#include "sparse_impl.h"
#undef INDEX
#undef SUFFIX
#undef REAL

#define NNBP_SPARSE_DISPATCHERS(REAL_, T)                                               \
    void nnbp_csr_xwt_##T(const struct nnbp_csr *X, size_t n, size_t M, size_t K,       \
                          const REAL_ *W, REAL_ *Z, size_t ldz)                         \
    {                                                                                   \
        if (X->index64)                                                                 \
            csr_xwt_##T##_i64(X, n, M, K, W, Z, ldz);                                   \
        else                                                                            \
            csr_xwt_##T##_i32(X, n, M, K, W, Z, ldz);                                   \
    }                                                                                   \
    void nnbp_csr_dtx_##T(const struct nnbp_csr *X, size_t n, size_t M, size_t K,       \
                          const REAL_ *D, size_t ldd, REAL_ *dW, int accumulate)        \
    {                                                                                   \
        if (X->index64)                                                                 \
            csr_dtx_##T##_i64(X, n, M, K, D, ldd, dW, accumulate);                      \
        else                                                                            \
            csr_dtx_##T##_i32(X, n, M, K, D, ldd, dW, accumulate);                      \
    }                                                                                   \
    void nnbp_csr_column_sgd_##T(const struct nnbp_csr *X, size_t n, size_t M,          \
                                 size_t K, REAL_ learning_rate, REAL_ *dW, REAL_ *W)    \
    {                                                                                   \
        if (X->index64)                                                                 \
            csr_column_sgd_##T##_i64(X, n, M, K, learning_rate, dW, W);                 \
        else                                                                            \
            csr_column_sgd_##T##_i32(X, n, M, K, learning_rate, dW, W);                 \
    }

NNBP_SPARSE_DISPATCHERS(float, f32)
NNBP_SPARSE_DISPATCHERS(double, f64)
