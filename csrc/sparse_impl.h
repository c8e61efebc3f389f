/* The first layer's kernels on CSR rows, written once for a real type and an
 * index type. sparse.c includes this file for float and double, each with
 * int32 and int64 indices (REAL, INDEX and SUFFIX defined), and exports
 * dispatchers under the names of nnbp_kernels.h.
 *
 * W is M-by-K, row-major: unit i's weights are a row, a feature's a column.
 * Each kernel goes through the units a few at a time and, for each, through
 * every entry of the batch: gathers from (scatters into) a row of W that
 * stays in cache, where going through the entries first would touch M lines
 * K elements apart, and a page of memory, per entry. The loads are random, so
 * nothing here is vectorised; the units taken together give independent sums
 * to overlap. Sums run in scipy's order (sparsetools' csr_matvecs and
 * csc_matvecs), whatever the number of units taken at once.
 */

#define NNBP_NAME2(base, suffix) base##_##suffix
#define NNBP_NAME1(base, suffix) NNBP_NAME2(base, suffix)
#define NNBP(base) NNBP_NAME1(base, SUFFIX)

/* Units per pass over the batch's entries. */
#define NNBP_UNITS 4

/* Z = X W^T: Z[r, i] = sum_p data[p] W[i, indices[p]] over row r's entries
 * in their stored order, from 0 (as scipy's X @ W^T). Z[r, i] is at Z + r ldz + i. */
static void NNBP(csr_xwt)(const struct nnbp_csr *X, size_t n, size_t M, size_t K,
                          const REAL *W, REAL *Z, size_t ldz)
{
    const INDEX *indices = X->indices;
    const REAL *data = X->data;
    size_t i = 0;
    for (; i + NNBP_UNITS <= M; i += NNBP_UNITS) {
        const REAL *w0 = W + i * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
        for (size_t r = 0; r < n; ++r) {
            REAL s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int64_t p = X->start[r]; p < X->end[r]; ++p) {
                const size_t k = (size_t)indices[p];
                const REAL x = data[p];
                s0 += x * w0[k];
                s1 += x * w1[k];
                s2 += x * w2[k];
                s3 += x * w3[k];
            }
            REAL *z = Z + r * ldz + i;
            z[0] = s0;
            z[1] = s1;
            z[2] = s2;
            z[3] = s3;
        }
    }
    for (; i < M; ++i) {
        const REAL *w = W + i * K;
        for (size_t r = 0; r < n; ++r) {
            REAL s = 0;
            for (int64_t p = X->start[r]; p < X->end[r]; ++p)
                s += data[p] * w[(size_t)indices[p]];
            Z[r * ldz + i] = s;
        }
    }
}

/* dW = D^T X: dW[i, k] = sum of D[r, i] data[p] over the entries p of column
 * k, row by row in order, each row's in stored order (as scipy's X^T @ D).
 * accumulate: dW += D^T X, reading and writing X's columns only. D[r, i] is
 * at D + r ldd + i.
 * A zero delta (relu's idle units) is skipped: it would add +-0, and a sum
 * that starts from +0 never holds -0, so +-0 changes none of its bits. */
static void NNBP(csr_dtx)(const struct nnbp_csr *X, size_t n, size_t M, size_t K,
                          const REAL *D, size_t ldd, REAL *dW, int accumulate)
{
    const INDEX *indices = X->indices;
    const REAL *data = X->data;
    size_t i = 0;
    /* Rows are cleared as they are reached, to be in cache for the sums. */
    for (; i + NNBP_UNITS <= M; i += NNBP_UNITS) {
        REAL *g0 = dW + i * K, *g1 = g0 + K, *g2 = g1 + K, *g3 = g2 + K;
        if (!accumulate)
            memset(g0, 0, NNBP_UNITS * K * sizeof(REAL));
        for (size_t r = 0; r < n; ++r) {
            const REAL *d = D + r * ldd + i;
            const REAL d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3];
            if (d0 == 0 && d1 == 0 && d2 == 0 && d3 == 0)
                continue;
            for (int64_t p = X->start[r]; p < X->end[r]; ++p) {
                const size_t k = (size_t)indices[p];
                const REAL x = data[p];
                g0[k] += x * d0;
                g1[k] += x * d1;
                g2[k] += x * d2;
                g3[k] += x * d3;
            }
        }
    }
    for (; i < M; ++i) {
        REAL *g = dW + i * K;
        if (!accumulate)
            memset(g, 0, K * sizeof(REAL));
        for (size_t r = 0; r < n; ++r) {
            const REAL d_ri = D[r * ldd + i];
            if (d_ri == 0)
                continue;
            for (int64_t p = X->start[r]; p < X->end[r]; ++p)
                g[(size_t)indices[p]] += data[p] * d_ri;
        }
    }
}

/* W[i, k] -= learning_rate dW[i, k], then dW[i, k] = 0, at the columns k of
 * X's rows: plain sgd on the only columns whose gradient is not 0, the same
 * arithmetic as the update of every column. A column met again finds
 * dW = +0, and w - lr (+0) = w to the bit: it is stepped once. */
static void NNBP(csr_column_sgd)(const struct nnbp_csr *X, size_t n, size_t M, size_t K,
                                 REAL learning_rate, REAL *dW, REAL *W)
{
    const INDEX *indices = X->indices;
    size_t i = 0;
    for (; i + NNBP_UNITS <= M; i += NNBP_UNITS) {
        REAL *w0 = W + i * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
        REAL *g0 = dW + i * K, *g1 = g0 + K, *g2 = g1 + K, *g3 = g2 + K;
        for (size_t r = 0; r < n; ++r)
            for (int64_t p = X->start[r]; p < X->end[r]; ++p) {
                const size_t k = (size_t)indices[p];
                w0[k] -= learning_rate * g0[k];
                w1[k] -= learning_rate * g1[k];
                w2[k] -= learning_rate * g2[k];
                w3[k] -= learning_rate * g3[k];
                g0[k] = g1[k] = g2[k] = g3[k] = 0;
            }
    }
    for (; i < M; ++i) {
        REAL *w = W + i * K, *g = dW + i * K;
        for (size_t r = 0; r < n; ++r)
            for (int64_t p = X->start[r]; p < X->end[r]; ++p) {
                const size_t k = (size_t)indices[p];
                w[k] -= learning_rate * g[k];
                g[k] = 0;
            }
    }
}

#undef NNBP_UNITS
#undef NNBP
#undef NNBP_NAME1
#undef NNBP_NAME2
