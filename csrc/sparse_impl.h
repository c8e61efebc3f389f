/* The first layer's kernels on CSR rows, written once for a real type.
 * sparse.c includes this file for float and double (REAL and SUFFIX
 * defined) and exports them under the names of nnbp_kernels.h.
 *
 * W is M-by-K, row-major: a unit's weights are a row, a feature's a column,
 * its weights K elements apart. Taken entry by entry, a batch would touch a
 * line of memory (and a page) per unit and entry; and taken unit by unit, in
 * the order of the entries, it reads the rows of W at random, which is slow
 * too (no prefetching, a miss at a time). So a batch is first laid out by
 * columns (csr_columns): its distinct columns in ascending order, and its
 * entries column by column. Each kernel then reads or writes the batch's
 * columns of a few rows of W in ascending order, which the processor
 * prefetches, and works on them in a small buffer. The sums run in scipy's
 * order (sparsetools' csr_matvecs for X W^T, csc_matvecs for X^T D).
 */

#define NNBP_NAME2(base, suffix) base##_##suffix
#define NNBP_NAME1(base, suffix) NNBP_NAME2(base, suffix)
#define NNBP(base) NNBP_NAME1(base, SUFFIX)

/* The batch laid out by columns (see struct nnbp_csr): the distinct columns,
 * ascending; each entry's place among them; the entries column by column,
 * rows ascending and each row's in stored order. X->place is -1 everywhere
 * before and after. */
void NNBP(nnbp_csr_columns)(struct nnbp_csr *X, size_t n, size_t K)
{
    const REAL *data = X->data;
    REAL *entry_value = X->entry_value;
    int32_t *place = X->place;
    int64_t *columns = X->columns, *first = X->first;
    size_t count = 0, e = 0;
    for (size_t r = 0; r < n; ++r)
        for (int64_t p = X->start[r]; p < X->end[r]; ++p) {
            const int64_t k = nnbp_csr_column(X, p);
            if (place[k] < 0) {
                place[k] = 0;
                columns[count++] = k;
            }
        }
    /* Ascending: a scan of the marks costs K, a sort count log count. */
    if (count > K / 32) {
        count = 0;
        for (size_t k = 0; k < K; ++k)
            if (place[k] >= 0)
                columns[count++] = (int64_t)k;
    } else {
        qsort(columns, count, sizeof *columns, nnbp_compare_int64);
    }
    for (size_t j = 0; j < count; ++j)
        place[columns[j]] = (int32_t)j;
    for (size_t j = 0; j <= count; ++j)
        first[j] = 0;
    for (size_t r = 0; r < n; ++r)
        for (int64_t p = X->start[r]; p < X->end[r]; ++p) {
            const int32_t j = place[nnbp_csr_column(X, p)];
            X->slot[e++] = j;
            first[j + 1] += 1;
        }
    for (size_t j = 0; j < count; ++j)
        first[j + 1] += first[j];
    /* first[j] is column j's cursor while the entries are placed, then is
     * moved back to where the column starts. */
    e = 0;
    for (size_t r = 0; r < n; ++r)
        for (int64_t p = X->start[r]; p < X->end[r]; ++p) {
            const int64_t q = first[X->slot[e++]]++;
            X->entry_row[q] = (int32_t)r;
            entry_value[q] = data[p];
        }
    for (size_t j = count; j > 0; --j)
        first[j] = first[j - 1];
    first[0] = 0;
    for (size_t j = 0; j < count; ++j)
        place[columns[j]] = -1;
    X->n_columns = count;
}

/* Z[r, i + u] = sum_p data[p] W[i + u, k_p] over row r's entries in their
 * stored order, from 0, for u < units: the rows' weights at the batch's
 * columns gathered first, w[j units + u], in ascending order. */
static inline __attribute__((always_inline)) void NNBP(nnbp_csr_xwt_units)(
    const struct nnbp_csr *X, size_t n, size_t units, size_t K, const REAL *W, REAL *Z,
    size_t ldz)
{
    const REAL *data = X->data;
    REAL *w = X->scratch;
    for (size_t j = 0; j < X->n_columns; ++j)
        for (size_t u = 0; u < units; ++u)
            w[j * units + u] = W[u * K + (size_t)X->columns[j]];
    size_t e = 0;
    for (size_t r = 0; r < n; ++r) {
        REAL s[NNBP_SPARSE_UNITS] = {0};
        for (int64_t p = X->start[r]; p < X->end[r]; ++p) {
            const REAL x = data[p];
            const REAL *w_j = w + (size_t)X->slot[e++] * units;
            for (size_t u = 0; u < units; ++u)
                s[u] += x * w_j[u];
        }
        for (size_t u = 0; u < units; ++u)
            Z[r * ldz + u] = s[u];
    }
}

/* Z = X W^T, Z[r, i] at Z + r ldz + i */
void NNBP(nnbp_csr_xwt)(const struct nnbp_csr *X, size_t n, size_t M, size_t K,
                          const REAL *W, REAL *Z, size_t ldz)
{
    size_t i = 0;
    for (; i + NNBP_SPARSE_UNITS <= M; i += NNBP_SPARSE_UNITS)
        NNBP(nnbp_csr_xwt_units)(X, n, NNBP_SPARSE_UNITS, K, W + i * K, Z + i, ldz);
    for (; i < M; ++i)
        NNBP(nnbp_csr_xwt_units)(X, n, 1, K, W + i * K, Z + i, ldz);
}

/* g_u = sum of D[r, i + u] x over column j's entries (rows ascending: the
 * order of scipy's X^T D), from 0, for the batch's columns j and u < units;
 * into dW[u, k_j] (compact: dW[u, j], units rows of n_columns). */
static inline __attribute__((always_inline)) void NNBP(nnbp_csr_dtx_units)(
    const struct nnbp_csr *X, size_t n, size_t units, size_t K, const REAL *D, size_t ldd,
    REAL *dW, int compact)
{
    const REAL *entry_value = X->entry_value;
    const size_t count = X->n_columns;
    REAL *d = X->scratch;
    for (size_t r = 0; r < n; ++r)
        for (size_t u = 0; u < units; ++u)
            d[r * units + u] = D[r * ldd + u];
    for (size_t j = 0; j < count; ++j) {
        REAL g[NNBP_SPARSE_UNITS] = {0};
        for (int64_t q = X->first[j]; q < X->first[j + 1]; ++q) {
            const REAL x = entry_value[q];
            const REAL *d_r = d + (size_t)X->entry_row[q] * units;
            for (size_t u = 0; u < units; ++u)
                g[u] += x * d_r[u];
        }
        for (size_t u = 0; u < units; ++u)
            dW[compact ? u * count + j : u * K + (size_t)X->columns[j]] = g[u];
    }
}

/* dW = D^T X, D[r, i] at D + r ldd + i. compact: dW is M-by-n_columns, the
 * gradient at the batch's columns only (the others' is 0). */
void NNBP(nnbp_csr_dtx)(const struct nnbp_csr *X, size_t n, size_t M, size_t K,
                          const REAL *D, size_t ldd, REAL *dW, int compact)
{
    const size_t width = compact ? X->n_columns : K;
    size_t i = 0;
    /* Rows are cleared as they are reached, to be in cache for the sums. */
    for (; i + NNBP_SPARSE_UNITS <= M; i += NNBP_SPARSE_UNITS) {
        if (!compact)
            memset(dW + i * K, 0, NNBP_SPARSE_UNITS * K * sizeof(REAL));
        NNBP(nnbp_csr_dtx_units)(X, n, NNBP_SPARSE_UNITS, K, D + i, ldd, dW + i * width, compact);
    }
    for (; i < M; ++i) {
        if (!compact)
            memset(dW + i * K, 0, K * sizeof(REAL));
        NNBP(nnbp_csr_dtx_units)(X, n, 1, K, D + i, ldd, dW + i * width, compact);
    }
}

/* W[u, k_j] -= learning_rate dW[u, j] at the batch's columns k_j, for
 * u < units, dW compact; then, unless next is NULL, Z_next = next W^T for
 * those units, with the new weights. */
static inline __attribute__((always_inline)) void NNBP(nnbp_csr_column_sgd_units)(
    const struct nnbp_csr *X, size_t units, size_t K, REAL learning_rate, const REAL *dW,
    REAL *W, const struct nnbp_csr *next, size_t n_next, REAL *Z_next, size_t ldz)
{
    const size_t count = X->n_columns;
    for (size_t j = 0; j < count; ++j)
        for (size_t u = 0; u < units; ++u)
            W[u * K + (size_t)X->columns[j]] -= learning_rate * dW[u * count + j];
    if (next != NULL)
        NNBP(nnbp_csr_xwt_units)(next, n_next, units, K, W, Z_next, ldz);
}

/* W[i, k_j] -= learning_rate dW[i, j] at the batch's columns k_j, from the
 * compact gradient of csr_dtx: plain sgd on the only columns whose gradient
 * is not 0, the arithmetic of the update of every column. Unless next is
 * NULL, also Z_next = next W^T (Z_next[r, i] at Z_next + r M + i) with the
 * new weights, a few rows of W at a time while they are in cache: the next
 * batch's first product, the same bits as csr_xwt's after the update, and
 * W read once a step instead of twice. */
void NNBP(nnbp_csr_column_sgd)(const struct nnbp_csr *X, size_t M, size_t K,
                               REAL learning_rate, const REAL *dW, REAL *W,
                               const struct nnbp_csr *next, size_t n_next, REAL *Z_next)
{
    const size_t count = X->n_columns;
    size_t i = 0;
    for (; i + NNBP_SPARSE_UNITS <= M; i += NNBP_SPARSE_UNITS)
        NNBP(nnbp_csr_column_sgd_units)(X, NNBP_SPARSE_UNITS, K, learning_rate,
                                        dW + i * count, W + i * K, next, n_next,
                                        Z_next + i, M);
    for (; i < M; ++i)
        NNBP(nnbp_csr_column_sgd_units)(X, 1, K, learning_rate, dW + i * count, W + i * K,
                                        next, n_next, Z_next + i, M);
}

#undef NNBP
#undef NNBP_NAME1
#undef NNBP_NAME2
