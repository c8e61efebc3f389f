/* The kernels, written once for a real type and an instruction set.
 * kernels.c includes this file for float and double, each compiled for the
 * x86-64 baseline and for AVX2, with REAL, SUFFIX and the math functions
 * defined; it exports dispatchers under the names of nnbp_kernels.h. Rows
 * are C-contiguous: element (i, j) of an n-by-m matrix is at i * m + j.
 */

#define NNBP_NAME2(base, suffix) base##_##suffix
#define NNBP_NAME1(base, suffix) NNBP_NAME2(base, suffix)
#define NNBP(base) NNBP_NAME1(base, SUFFIX)

/* sigma(z) = 1 / (1 + e^-z).  Accurate for every z: for z << 0, e^-z
 * overflows to inf and the quotient goes to 0, its true limit. */
static inline REAL NNBP(sigmoid)(REAL z)
{
    return (REAL)1 / ((REAL)1 + EXP(-z));
}

/* softplus(z) = log(1 + e^z), as max(z, 0) + log1p(e^-|z|): e^z overflows
 * for z > 88 (float) or 709 (double), e^-|z| never does. */
static inline REAL NNBP(softplus)(REAL z)
{
    return (z > 0 ? z : (REAL)0) + LOG1P(EXP(-(z > 0 ? z : -z)));
}

/* Z[i, :] += bias; A = phi(Z).  A == NULL: bias only. */
static void NNBP(nnbp_bias_activation)(int activation, REAL negative_slope,
                                       size_t n, size_t m, const REAL *bias,
                                       REAL *Z, REAL *A)
{
    for (size_t i = 0; i < n; ++i) {
        REAL *z = Z + i * m;
        if (bias != NULL)
            for (size_t j = 0; j < m; ++j)
                z[j] += bias[j];
        if (A == NULL)
            continue;
        REAL *a = A + i * m;
        switch (activation) {
        case NNBP_IDENTITY:
            for (size_t j = 0; j < m; ++j) a[j] = z[j];
            break;
        case NNBP_LOGISTIC:
            for (size_t j = 0; j < m; ++j) a[j] = NNBP(sigmoid)(z[j]);
            break;
        case NNBP_TANH:
            for (size_t j = 0; j < m; ++j) a[j] = TANH(z[j]);
            break;
        case NNBP_RELU:
            for (size_t j = 0; j < m; ++j) a[j] = z[j] > 0 ? z[j] : (REAL)0;
            break;
        case NNBP_LEAKY_RELU:
            for (size_t j = 0; j < m; ++j)
                a[j] = z[j] > 0 ? z[j] : negative_slope * z[j];
            break;
        case NNBP_SOFTPLUS:
            for (size_t j = 0; j < m; ++j) a[j] = NNBP(softplus)(z[j]);
            break;
        }
    }
}

/* column_sums[j] = sum_i D[i, j] */
static void NNBP(nnbp_column_sums)(size_t n, size_t m, const REAL *D,
                                   REAL *column_sums)
{
    for (size_t j = 0; j < m; ++j)
        column_sums[j] = 0;
    for (size_t i = 0; i < n; ++i) {
        const REAL *d = D + i * m;
        for (size_t j = 0; j < m; ++j)
            column_sums[j] += d[j];
    }
}

/* D *= phi'(Z), phi' taken from A = phi(Z) where that is cheaper (logistic
 * a(1-a), tanh 1-a^2, as PyTorch does): it saves an exp per unit, and its
 * error is the rounding of A, eps |D|;
 * column_sums[j] = sum_i D[i, j] (skipped when NULL). */
static void NNBP(nnbp_activation_backward)(int activation, REAL negative_slope,
                                           size_t n, size_t m, const REAL *Z,
                                           const REAL *A, REAL *D, REAL *column_sums)
{
    for (size_t i = 0; i < n; ++i) {
        const REAL *z = Z + i * m;
        const REAL *a = A + i * m;
        REAL *d = D + i * m;
        switch (activation) {
        case NNBP_IDENTITY:
            break;
        case NNBP_LOGISTIC:
            for (size_t j = 0; j < m; ++j) d[j] *= a[j] * ((REAL)1 - a[j]);
            break;
        case NNBP_TANH:
            for (size_t j = 0; j < m; ++j) d[j] *= (REAL)1 - a[j] * a[j];
            break;
        case NNBP_RELU:
            for (size_t j = 0; j < m; ++j) d[j] = z[j] > 0 ? d[j] : (REAL)0;
            break;
        case NNBP_LEAKY_RELU:
            for (size_t j = 0; j < m; ++j)
                d[j] = z[j] > 0 ? d[j] : negative_slope * d[j];
            break;
        case NNBP_SOFTPLUS:
            for (size_t j = 0; j < m; ++j) d[j] *= NNBP(sigmoid)(z[j]);
            break;
        }
    }
    if (column_sums != NULL)
        NNBP(nnbp_column_sums)(n, m, D, column_sums);
}

/* Z = phi_out(Z) in place: identity, sigmoid, row-wise softmax, or exp. */
static void NNBP(nnbp_output_activation)(int output, size_t n, size_t m, REAL *Z)
{
    if (output == NNBP_BINARY) {
        for (size_t k = 0; k < n * m; ++k)
            Z[k] = NNBP(sigmoid)(Z[k]);
    } else if (output == NNBP_POISSON) {
        for (size_t k = 0; k < n * m; ++k)
            Z[k] = EXP(Z[k]);
    } else if (output == NNBP_SOFTMAX) {
        for (size_t i = 0; i < n; ++i) {
            REAL *z = Z + i * m;
            /* subtract the row max so that no exponent is positive:
             * e^z overflows for z > 88 in float, e^(z - max) never does. */
            REAL zmax = z[0];
            for (size_t j = 1; j < m; ++j) zmax = z[j] > zmax ? z[j] : zmax;
            REAL total = 0;
            for (size_t j = 0; j < m; ++j) {
                z[j] = EXP(z[j] - zmax);
                total += z[j];
            }
            for (size_t j = 0; j < m; ++j) z[j] /= total;
        }
    }
}

/* Returns sum_i s_i loss(y_i, phi_out(Z_i)), computed from the logits Z;
 * D = scale * s_i * (phi_out(Z_i) - target_i) unless D is NULL.
 * Y: n-by-m targets (squared, binary, poisson); labels: n class indices (softmax);
 * sample_weight NULL means s_i = 1. */
static double NNBP(nnbp_output_loss)(int output, size_t n, size_t m, const REAL *Z,
                                     const REAL *Y, const int64_t *labels,
                                     const REAL *sample_weight, double scale, REAL *D)
{
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
        const REAL *z = Z + i * m;
        REAL *d = D == NULL ? NULL : D + i * m;
        const double s = sample_weight == NULL ? 1.0 : (double)sample_weight[i];
        const REAL c = (REAL)(scale * s);
        double row_loss = 0;
        if (output == NNBP_SQUARED) {
            const REAL *y = Y + i * m;
            for (size_t j = 0; j < m; ++j) {
                const REAL r = z[j] - y[j];
                row_loss += 0.5 * (double)r * (double)r;
                if (d != NULL) d[j] = c * r;
            }
        } else if (output == NNBP_BINARY) {
            const REAL *y = Y + i * m;
            for (size_t j = 0; j < m; ++j) {
                /* -[y log sigma(z) + (1-y) log(1 - sigma(z))] = softplus(z) - y z:
                 * from the logit, so no rounded sigma(z) = 0 or 1 gives log 0. As
                 * (max(z, 0) - y z) + log1p(e^-|z|): softplus(z) - y z would
                 * cancel to 0 for a confident right answer (z = 20, y = 1),
                 * where the loss is log1p(e^-20) = 2e-9. */
                const REAL abs_z = z[j] > 0 ? z[j] : -z[j];
                row_loss += (double)((z[j] > 0 ? z[j] : (REAL)0) - y[j] * z[j])
                            + (double)LOG1P(EXP(-abs_z));
                if (d != NULL) d[j] = c * (NNBP(sigmoid)(z[j]) - y[j]);
            }
        } else if (output == NNBP_POISSON) {
            const REAL *y = Y + i * m;
            for (size_t j = 0; j < m; ++j) {
                /* y log(y/f) - y + f, f = e^z, with log(y/f) = log y - z from the
                 * logit: no log 0 where f underflows to 0. 0 log 0 = 0 (the limit).
                 * libm's log, in double: vecmath.h has none, and the loss sums in
                 * double. Past z ~ 88 (float) or 709 (double) f = inf, and so is
                 * the loss: an honest overflow. */
                const REAL f = EXP(z[j]);
                const double y_log_y_over_f =
                    y[j] > 0 ? (double)y[j] * (log((double)y[j]) - (double)z[j]) : 0.0;
                row_loss += y_log_y_over_f - (double)y[j] + (double)f;
                if (d != NULL) d[j] = c * (f - y[j]);
            }
        } else { /* NNBP_SOFTMAX */
            const int64_t label = labels[i];
            /* log-sum-exp with the row max taken out: no exponent is
             * positive, so nothing overflows, and the largest term is 1. */
            size_t jmax = 0;
            for (size_t j = 1; j < m; ++j) jmax = z[j] > z[jmax] ? j : jmax;
            const REAL zmax = z[jmax];
            /* The sum of the terms other than the max's 1, kept apart: log(1 +
             * rest) rounds a small rest away, log1p(rest) keeps it, so a
             * confident right answer has its small loss, not 0. */
            REAL rest = 0;
            if (d != NULL) {
                for (size_t j = 0; j < m; ++j) {
                    d[j] = EXP(z[j] - zmax);
                    rest += j == jmax ? (REAL)0 : d[j];
                }
                const REAL c_over_sum = c / (1 + rest);
                for (size_t j = 0; j < m; ++j) d[j] *= c_over_sum;
                d[label] -= c;
            } else {
                for (size_t j = 0; j < m; ++j) rest += j == jmax ? (REAL)0 : EXP(z[j] - zmax);
            }
            row_loss = (double)LOG1P(rest) - (double)(z[label] - zmax);
        }
        total += s * row_loss;
    }
    return total;
}

/* sum_k w_k^2 (in double), and g_k += scale w_k unless g is NULL: the L2
 * penalty's value and gradient in one pass over the weights. */
static double NNBP(nnbp_l2_penalty)(size_t size, REAL scale, const REAL *w, REAL *g)
{
    /* Sixteen running sums (four vectors), not one: a single sum is a chain of
     * dependent additions, one per 4 cycles, which the compiler may not
     * reorder into vectors (that would change the rounding). It made the
     * penalty cost 4x a whole batch-1 step of a 256-1024-2 network. */
    enum { LANES = 16 };
    double partial[LANES] = {0};
    size_t k = 0;
    if (g == NULL) {
        for (; k + LANES <= size; k += LANES)
            for (size_t j = 0; j < LANES; ++j)
                partial[j] += (double)w[k + j] * (double)w[k + j];
    } else {
        for (; k + LANES <= size; k += LANES)
            for (size_t j = 0; j < LANES; ++j) {
                partial[j] += (double)w[k + j] * (double)w[k + j];
                g[k + j] += scale * w[k + j];
            }
    }
    double total = 0;
    for (; k < size; ++k) {
        total += (double)w[k] * (double)w[k];
        if (g != NULL)
            g[k] += scale * w[k];
    }
    for (size_t j = 0; j < LANES; ++j)
        total += partial[j];
    return total;
}

/* ---------------------------------------------------------------- updates
 * One pass over the flat parameter vector. The arithmetic is scikit-learn's
 * (sklearn/neural_network/_stochastic_optimizers.py), operation for
 * operation, so that the two follow the same path to the last bit. */

/* v = mu v - lr g; p += nesterov ? mu v - lr g : v.  v NULL (mu = 0): p -= lr g */
static void NNBP(nnbp_sgd_update)(size_t size, REAL learning_rate, REAL momentum,
                                  int nesterov, const REAL *grad, REAL *velocity,
                                  REAL *params)
{
    if (velocity == NULL) {
        for (size_t k = 0; k < size; ++k)
            params[k] -= learning_rate * grad[k];
        return;
    }
    for (size_t k = 0; k < size; ++k) {
        const REAL v = momentum * velocity[k] - learning_rate * grad[k];
        velocity[k] = v;
        params[k] += nesterov ? momentum * v - learning_rate * grad[k] : v;
    }
}

/* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p += -lr m / (sqrt(v) + eps) */
static void NNBP(nnbp_adam_update)(size_t size, REAL learning_rate, REAL beta_1,
                                   REAL one_minus_beta_1, REAL beta_2,
                                   REAL one_minus_beta_2, REAL epsilon,
                                   const REAL *grad, REAL *m, REAL *v, REAL *params)
{
    for (size_t k = 0; k < size; ++k) {
        m[k] = beta_1 * m[k] + one_minus_beta_1 * grad[k];
        v[k] = beta_2 * v[k] + one_minus_beta_2 * (grad[k] * grad[k]);
        params[k] += -learning_rate * m[k] / (SQRT(v[k]) + epsilon);
    }
}

#undef NNBP
#undef NNBP_NAME1
#undef NNBP_NAME2
