/* The first layer's kernels on a sparse input (CSR rows): its product
 * X W^T and its gradient D^T X, plain sgd on the batch's columns, and the
 * layout by columns they work from (see sparse_impl.h).
 *
 * One build for every processor: the loads are gathers and the stores
 * scatters, which wider registers would not speed up.
 */
#include <stdlib.h>
#include <string.h>
#include "nnbp_kernels.h"

/* Units (rows of W) that the kernels take at once: independent sums per
 * entry read, and as many ascending streams through W. */
#define NNBP_SPARSE_UNITS 8

/* The column of entry p. */
static inline int64_t nnbp_csr_column(const struct nnbp_csr *X, int64_t p)
{
    return X->index64 ? ((const int64_t *)X->indices)[p] : ((const int32_t *)X->indices)[p];
}

static int nnbp_compare_int64(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

#define REAL float
#define SUFFIX f32
#include "sparse_impl.h"
#undef SUFFIX
#undef REAL

#define REAL double
#define SUFFIX f64
#include "sparse_impl.h"
#undef SUFFIX
#undef REAL

void nnbp_csr_free(struct nnbp_csr *X)
{
    free(X->start);
    free(X->columns);
    free(X->slot);
    free(X->first);
    free(X->entry_row);
    free(X->entry_value);
    free(X->place);
    free(X->scratch);
    memset(X, 0, sizeof *X);
}

int nnbp_csr_allocate(struct nnbp_csr *X, size_t rows, size_t entries, size_t K,
                      size_t real_size)
{
    const size_t columns = entries < K ? entries : K;
    const size_t buffer = NNBP_SPARSE_UNITS * (columns > rows ? columns : rows);
    memset(X, 0, sizeof *X);
    /* One more of each than needed: malloc(0) may give NULL. */
    X->start = malloc((2 * rows + 1) * sizeof(int64_t));
    X->end = X->start == NULL ? NULL : X->start + rows;
    X->columns = malloc((columns + 1) * sizeof(int64_t));
    X->slot = malloc((entries + 1) * sizeof(int32_t));
    X->first = malloc((columns + 1) * sizeof(int64_t));
    X->entry_row = malloc((entries + 1) * sizeof(int32_t));
    X->entry_value = malloc((entries + 1) * real_size);
    X->place = malloc((K + 1) * sizeof(int32_t));
    X->scratch = malloc((buffer + 1) * real_size);
    if (X->start == NULL || X->columns == NULL || X->slot == NULL || X->first == NULL
        || X->entry_row == NULL || X->entry_value == NULL || X->place == NULL
        || X->scratch == NULL) {
        nnbp_csr_free(X);
        return 0;
    }
    for (size_t k = 0; k < K; ++k)
        X->place[k] = -1;
    return 1;
}
