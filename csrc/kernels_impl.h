/* The kernels, written once for a real type and an instruction set.
 * kernels.c includes this file for float and double, each compiled for the
 * x86-64 baseline, for AVX2 and for AVX-512, with REAL, SUFFIX and the math
 * functions defined; it exports dispatchers under the names of nnbp_kernels.h. Rows
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

/* e^(z - zmax) for the softmax, zmax the row's max: the max's own term is
 * exactly 1, also where zmax is +inf (inf - inf would make it NaN): one
 * logit of +inf gives the one-hot limit. On finite z the same bits as
 * EXP(z - zmax) (e^0 is exactly 1). */
static inline REAL NNBP(shifted_exp)(REAL z, REAL zmax)
{
    return z == zmax ? (REAL)1 : EXP(z - zmax);
}

/* gelu and silu multiply z by a factor that is 0 at z = -inf: -inf * 0 is
 * NaN, where their limit is 0. Below -1000 the factor is 0 in float and
 * double (Phi(-1000) and sigma(-1000) underflow), so z taken as -1000
 * there gives the same -0 for finite z, and 0 (not NaN) at -inf; NaN fails
 * the comparison and stays NaN. */
#define NNBP_FACTOR_LIMIT ((REAL)1000)

static inline REAL NNBP(above_limit)(REAL z)
{
    return z < -NNBP_FACTOR_LIMIT ? -NNBP_FACTOR_LIMIT : z;
}

/* z clamped to [-1000, 1000]: the derivatives' z phi(z) and z sigma(z)(1 -
 * sigma(z)) terms are 0 past it, and inf * 0 would make them NaN. */
static inline REAL NNBP(within_limit)(REAL z)
{
    return z < -NNBP_FACTOR_LIMIT ? -NNBP_FACTOR_LIMIT
                                  : (z > NNBP_FACTOR_LIMIT ? NNBP_FACTOR_LIMIT : z);
}

/* Phi(z) = (1 + erf(z / sqrt 2)) / 2, the standard normal CDF, as PyTorch
 * writes it (gelu with approximate='none'), in double for both types. With
 * x = z / sqrt 2 and a = |x|: Kummer's series of erf a up to a = 2; above,
 * erfc a by its continued fraction, Phi = 1 - erfc(a) / 2 for x > 0 and
 * erfc(a) / 2 for x < 0, where 1 + erf would cancel and keep only an
 * absolute accuracy, a few 2^-53 (a relative error of 6e-10 at z = -5.2,
 * and all of Phi below z = -9.2, where erf rounds to -1). One series and
 * one fraction, as erf itself takes; both computed and one selected: a
 * branch would keep the loop scalar. float's erfc needs no scaled exp: its
 * subnormals end near a = 10.1, and e^(-a^2) is a normal double to a = 26. */
#define NNBP_ERFC_FLOAT_ZERO 26.0
/* Forced inline (vecmath.h): a call would keep gelu's loops scalar. */
NNBP_ERF_INLINE REAL NNBP(normal_cdf)(REAL z)
{
    const double x = (double)z * 0.70710678118654752440, a = fabs(x);
    const double small = a > NNBP_ERF_SPLIT ? NNBP_ERF_SPLIT : a;
    const double large = a < NNBP_ERF_SPLIT ? NNBP_ERF_SPLIT
                         : (a > NNBP_ERFC_FLOAT_ZERO ? NNBP_ERFC_FLOAT_ZERO : a);
    /* float's erf has the terms float needs, double's all of them. */
    const double erf_small = sizeof(REAL) == sizeof(float) ? nnbp_erf_small_for_f32(small)
                                                           : nnbp_erf_small_f64(small);
    const double half_erfc = 0.5 * (sizeof(REAL) == sizeof(float) ? nnbp_erfc_large_for_f32(large)
                                                                  : nnbp_erfc_tail_f64(a));
    /* NaN fails every comparison, and makes half_erfc NaN, which is selected. */
    return (REAL)(a <= NNBP_ERF_SPLIT ? 0.5 + 0.5 * copysign(erf_small, x)
                                      : (x < 0 ? half_erfc : 1.0 - half_erfc));
}

/* phi(z) = e^(-z^2/2) / sqrt(2 pi), the standard normal density. */
static inline REAL NNBP(normal_pdf)(REAL z)
{
    return EXP((REAL)-0.5 * z * z) * (REAL)0.39894228040143267794;
}

/* Z[i, :] += bias; A = phi(Z).  A == NULL: bias only.  Z and A: n rows of m
 * columns, ld apart (a block of columns of wider matrices). */
static void NNBP(nnbp_bias_activation)(int activation, REAL negative_slope,
                                       size_t n, size_t m, size_t ld, const REAL *bias,
                                       REAL *Z, REAL *A)
{
    for (size_t i = 0; i < n; ++i) {
        REAL *z = Z + i * ld;
        if (bias != NULL)
            for (size_t j = 0; j < m; ++j)
                z[j] += bias[j];
        if (A == NULL)
            continue;
        REAL *a = A + i * ld;
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
            /* "z <= 0 ? 0 : z", not "z > 0 ? z : 0": NaN fails every
             * comparison, and must come out NaN, not 0. Finite z give the
             * same bits either way (-0 gives +0). */
            for (size_t j = 0; j < m; ++j) a[j] = z[j] <= 0 ? (REAL)0 : z[j];
            break;
        case NNBP_LEAKY_RELU:
            for (size_t j = 0; j < m; ++j)
                a[j] = z[j] > 0 ? z[j] : negative_slope * z[j];
            break;
        case NNBP_SOFTPLUS:
            for (size_t j = 0; j < m; ++j) a[j] = NNBP(softplus)(z[j]);
            break;
        case NNBP_GELU:
            for (size_t j = 0; j < m; ++j)
                a[j] = NNBP(above_limit)(z[j]) * NNBP(normal_cdf)(z[j]);
            break;
        case NNBP_SILU:
            for (size_t j = 0; j < m; ++j)
                a[j] = NNBP(above_limit)(z[j]) * NNBP(sigmoid)(z[j]);
            break;
        }
    }
}

/* column_sums[j] = sum_i D[i, j], D's rows ld apart */
static void NNBP(nnbp_column_sums)(size_t n, size_t m, size_t ld, const REAL *D,
                                   REAL *column_sums)
{
    for (size_t j = 0; j < m; ++j)
        column_sums[j] = 0;
    for (size_t i = 0; i < n; ++i) {
        const REAL *d = D + i * ld;
        for (size_t j = 0; j < m; ++j)
            column_sums[j] += d[j];
    }
}

/* D *= phi'(Z), phi' taken from A = phi(Z) where that is cheaper (logistic
 * a(1-a), tanh 1-a^2, as PyTorch does): it saves an exp per unit, and its
 * error is the rounding of A, eps |D|;
 * column_sums[j] = sum_i D[i, j] (skipped when NULL). Rows ld apart. */
static void NNBP(nnbp_activation_backward)(int activation, REAL negative_slope,
                                           size_t n, size_t m, size_t ld, const REAL *Z,
                                           const REAL *A, REAL *D, REAL *column_sums)
{
    for (size_t i = 0; i < n; ++i) {
        const REAL *z = Z + i * ld;
        const REAL *a = A + i * ld;
        REAL *d = D + i * ld;
        switch (activation) {
        case NNBP_IDENTITY:
            break;
        case NNBP_LOGISTIC:
            for (size_t j = 0; j < m; ++j) d[j] *= a[j] * ((REAL)1 - a[j]);
            break;
        case NNBP_TANH:
            for (size_t j = 0; j < m; ++j) d[j] *= (REAL)1 - a[j] * a[j];
            break;
        /* relu and leaky_relu: phi'(NaN) is NaN, so d * phi'(z) is z itself
         * where z is NaN (neither z > 0 nor z <= 0). relu passes back 0
         * where z <= 0 whatever d, inf or NaN (PyTorch's rule: the unit is
         * off; an overflowed d times 0 would only make a NaN of a 0). */
        case NNBP_RELU:
            for (size_t j = 0; j < m; ++j)
                d[j] = z[j] > 0 ? d[j] : (z[j] <= 0 ? (REAL)0 : z[j]);
            break;
        case NNBP_LEAKY_RELU:
            for (size_t j = 0; j < m; ++j)
                d[j] = z[j] > 0 ? d[j] : (z[j] <= 0 ? negative_slope * d[j] : z[j]);
            break;
        case NNBP_SOFTPLUS:
            for (size_t j = 0; j < m; ++j) d[j] *= NNBP(sigmoid)(z[j]);
            break;
        /* gelu' = Phi + z phi and silu' = sigma (1 + z (1 - sigma)), from Z
         * (A = z Phi or z sigma does not give the factor back near z = 0),
         * as PyTorch computes them. */
        case NNBP_GELU:
            for (size_t j = 0; j < m; ++j)
                d[j] *= NNBP(normal_cdf)(z[j])
                        + NNBP(within_limit)(z[j]) * NNBP(normal_pdf)(NNBP(within_limit)(z[j]));
            break;
        case NNBP_SILU:
            for (size_t j = 0; j < m; ++j) {
                const REAL s = NNBP(sigmoid)(z[j]);
                d[j] *= s * ((REAL)1 + NNBP(within_limit)(z[j]) * ((REAL)1 - s));
            }
            break;
        }
    }
    if (column_sums != NULL)
        NNBP(nnbp_column_sums)(n, m, ld, D, column_sums);
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
                z[j] = NNBP(shifted_exp)(z[j], zmax);
                total += z[j];
            }
            for (size_t j = 0; j < m; ++j) z[j] /= total;
        }
    }
}

/* D = J^T D in place, row by row: the gradient with respect to the logits z
 * of a gradient D with respect to the outputs f = phi_out(z), read from F
 * (f, not z: each derivative is a product of outputs, as activation_backward
 * takes phi' from A). identity: J = I; sigmoid: f(1 - f); exp: f; softmax:
 * J = diag(f) - f f^T, so (J^T d)_j = f_j (d_j - sum_k f_k d_k). */
static void NNBP(nnbp_output_backward)(int output, size_t n, size_t m, const REAL *F, REAL *D)
{
    if (output == NNBP_BINARY) {
        for (size_t k = 0; k < n * m; ++k)
            D[k] *= F[k] * ((REAL)1 - F[k]);
    } else if (output == NNBP_POISSON) {
        for (size_t k = 0; k < n * m; ++k)
            D[k] *= F[k];
    } else if (output == NNBP_SOFTMAX) {
        for (size_t i = 0; i < n; ++i) {
            const REAL *f = F + i * m;
            REAL *d = D + i * m;
            REAL f_dot_d = 0;
            for (size_t j = 0; j < m; ++j) f_dot_d += f[j] * d[j];
            for (size_t j = 0; j < m; ++j) d[j] = f[j] * (d[j] - f_dot_d);
        }
    }
}

/* Returns sum_i s_i loss(y_i, phi_out(Z_i)), computed from the logits Z;
 * D = scale * s_i * (phi_out(Z_i) - target_i) unless D is NULL. A row with
 * s_i = 0 is left out: it adds 0 and its row of D is 0, whatever its values.
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
        if (s == 0) {
            /* A row of weight 0 contributes nothing: not s * loss, whose 0 * inf
             * is NaN where its loss overflows (a y of 1e300, poisson's e^z). */
            if (d != NULL)
                for (size_t j = 0; j < m; ++j) d[j] = 0;
            continue;
        }
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
                REAL linear = (z[j] > 0 ? z[j] : (REAL)0) - y[j] * z[j];
                /* At z = +-inf, its limit: 0 for a sure right answer (z = inf
                 * and y = 1, or -inf and 0), else inf; not inf - inf = NaN. */
                const REAL inf = (REAL)INFINITY;
                linear = z[j] == inf ? (y[j] == 1 ? (REAL)0 : inf)
                         : z[j] == -inf ? (y[j] == 0 ? (REAL)0 : inf) : linear;
                row_loss += (double)linear + (double)LOG1P(EXP(-abs_z));
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
                /* At z = inf, f outgrows y z: inf, not -inf + inf = NaN. */
                row_loss += z[j] == (REAL)INFINITY ? (double)INFINITY
                                                   : y_log_y_over_f - (double)y[j] + (double)f;
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
                    d[j] = NNBP(shifted_exp)(z[j], zmax);
                    rest += j == jmax ? (REAL)0 : d[j];
                }
                const REAL c_over_sum = c / (1 + rest);
                for (size_t j = 0; j < m; ++j) d[j] *= c_over_sum;
                d[label] -= c;
            } else {
                for (size_t j = 0; j < m; ++j)
                    rest += j == jmax ? (REAL)0 : NNBP(shifted_exp)(z[j], zmax);
            }
            /* z_label - zmax, 0 where the label's logit is the max, also +inf. */
            row_loss = (double)LOG1P(rest)
                       - (z[label] == zmax ? 0.0 : (double)(z[label] - zmax));
        }
        total += s * row_loss;
    }
    return total;
}

/* Returns sum_i s_i sum_k loss(r_ik) of a robust regression loss of the
 * residuals r = Z - Y (identity output); D = scale * s_i * dloss/dz unless
 * NULL. parameter: Huber's delta, or the quantile q. A row with s_i = 0 is
 * left out, its row of D 0, as in nnbp_output_loss. At a kink (r = 0, or
 * |r| = delta) the gradient is one side's, as scikit-learn's: sign(0) = 0 for
 * the absolute error, 1 - q for the quantile. The branches are selects, so
 * the loops vectorise. */
static double NNBP(nnbp_regression_loss)(int loss, double parameter, size_t n, size_t m,
                                         const REAL *Z, const REAL *Y,
                                         const REAL *sample_weight, double scale, REAL *D)
{
    const REAL p = (REAL)parameter;
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
        const REAL *z = Z + i * m;
        const REAL *y = Y + i * m;
        REAL *d = D == NULL ? NULL : D + i * m;
        const double s = sample_weight == NULL ? 1.0 : (double)sample_weight[i];
        if (s == 0) {
            if (d != NULL)
                for (size_t j = 0; j < m; ++j) d[j] = 0;
            continue;
        }
        const REAL c = (REAL)(scale * s);
        double row_loss = 0;
        if (loss == NNBP_HUBER) {
            for (size_t j = 0; j < m; ++j) {
                const REAL r = z[j] - y[j];
                const REAL a = r > 0 ? r : -r;
                /* Quadratic inside [-delta, delta], linear outside, the two
                 * meeting with the same value and slope at |r| = delta. */
                row_loss += a <= p ? 0.5 * (double)r * (double)r
                                   : (double)p * ((double)a - 0.5 * (double)p);
                if (d != NULL) d[j] = c * (a <= p ? r : (r > 0 ? p : -p));
            }
        } else if (loss == NNBP_ABSOLUTE_ERROR) {
            for (size_t j = 0; j < m; ++j) {
                const REAL r = z[j] - y[j];
                row_loss += r > 0 ? (double)r : -(double)r;
                if (d != NULL) d[j] = r > 0 ? c : (r < 0 ? -c : (REAL)0);
            }
        } else { /* NNBP_QUANTILE */
            for (size_t j = 0; j < m; ++j) {
                const REAL r = z[j] - y[j];
                /* Under-predicting (y > z) costs q per unit, over-predicting 1 - q:
                 * the minimiser is the q-quantile of y. */
                row_loss += r < 0 ? -(double)p * (double)r : (1.0 - (double)p) * (double)r;
                if (d != NULL) d[j] = c * (r < 0 ? -p : (REAL)1 - p);
            }
        }
        total += s * row_loss;
    }
    return total;
}

/* Sixteen running sums (four vectors), not one: a single sum is a chain of
 * dependent additions, one per 4 cycles, which the compiler may not reorder
 * into vectors (that would change the rounding). It made the penalty cost 4x
 * a whole batch-1 step of a 256-1024-2 network. */
#define NNBP_PENALTY_LANES 16

/* sum_j w_j^2 (in double) of one row of W, in 16 lanes then the lanes in
 * order: the penalty's sum of a row, whoever computes it (the penalty below,
 * a thread of a team, the fused one-example step), so that all give the
 * same bits. A layer's sum is its rows' sums, added in order from 0. */
static inline double NNBP(row_squares)(size_t K, const REAL *w)
{
    double partial[NNBP_PENALTY_LANES] = {0};
    size_t j = 0;
    for (; j + NNBP_PENALTY_LANES <= K; j += NNBP_PENALTY_LANES)
        for (size_t lane = 0; lane < NNBP_PENALTY_LANES; ++lane)
            partial[lane] += (double)w[j + lane] * (double)w[j + lane];
    if (j < K) {
        /* The tail through a zero-padded line, as in dot_rows: a variable
         * index into partial would keep the sums in memory. */
        REAL tail[NNBP_PENALTY_LANES] = {0};
        memcpy(tail, w + j, (K - j) * sizeof(REAL));
        for (size_t lane = 0; lane < NNBP_PENALTY_LANES; ++lane)
            partial[lane] += (double)tail[lane] * (double)tail[lane];
    }
    double total = 0;
    for (size_t lane = 0; lane < NNBP_PENALTY_LANES; ++lane)
        total += partial[lane];
    return total;
}

/* sum w^2 over M rows of K weights (in double), each row's sum also into
 * row_sums unless it is NULL, and g += scale w unless G is NULL: the L2
 * penalty's value and gradient in one pass. */
static double NNBP(nnbp_l2_penalty)(size_t M, size_t K, REAL scale, const REAL *W, REAL *G,
                                    double *row_sums)
{
    double total = 0;
    for (size_t i = 0; i < M; ++i) {
        const REAL *w = W + i * K;
        if (G != NULL) {
            REAL *g = G + i * K;
            for (size_t j = 0; j < K; ++j)
                g[j] += scale * w[j];
        }
        const double row = NNBP(row_squares)(K, w);
        if (row_sums != NULL)
            row_sums[i] = row;
        total += row;
    }
    return total;
}

/* ---------------------------------------------------------------- updates
 * One pass over the flat parameter vector. The arithmetic is scikit-learn's
 * (sklearn/neural_network/_stochastic_optimizers.py), operation for
 * operation, so that the two follow the same path to the last bit. The rules
 * for one parameter are shared with the fused one-example step below, so
 * that both give the same bits. */

/* v = mu v - lr g; p += nesterov ? mu v - lr g : v */
static inline void NNBP(sgd_rule)(REAL g, REAL learning_rate, REAL momentum, int nesterov,
                                  REAL *v, REAL *p)
{
    const REAL velocity = momentum * *v - learning_rate * g;
    *v = velocity;
    *p += nesterov ? momentum * velocity - learning_rate * g : velocity;
}

/* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p += -lr m / (sqrt(v) + eps) */
static inline void NNBP(adam_rule)(REAL g, REAL learning_rate, REAL beta_1,
                                   REAL one_minus_beta_1, REAL beta_2,
                                   REAL one_minus_beta_2, REAL epsilon, REAL *m, REAL *v,
                                   REAL *p)
{
    *m = beta_1 * *m + one_minus_beta_1 * g;
    *v = beta_2 * *v + one_minus_beta_2 * (g * g);
    *p += -learning_rate * *m / (SQRT(*v) + epsilon);
}

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
    for (size_t k = 0; k < size; ++k)
        NNBP(sgd_rule)(grad[k], learning_rate, momentum, nesterov, velocity + k, params + k);
}

/* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p += -lr m / (sqrt(v) + eps) */
static void NNBP(nnbp_adam_update)(size_t size, REAL learning_rate, REAL beta_1,
                                   REAL one_minus_beta_1, REAL beta_2,
                                   REAL one_minus_beta_2, REAL epsilon,
                                   const REAL *grad, REAL *m, REAL *v, REAL *params)
{
    for (size_t k = 0; k < size; ++k)
        NNBP(adam_rule)(grad[k], learning_rate, beta_1, one_minus_beta_1, beta_2,
                        one_minus_beta_2, epsilon, m + k, v + k, params + k);
}

/* x *= factor: decoupled weight decay's p = (1 - lr wd) p, and a gradient
 * clipped to its largest norm, g = (max / ||g||) g. */
static void NNBP(nnbp_scale)(size_t size, REAL factor, REAL *x)
{
    for (size_t k = 0; k < size; ++k)
        x[k] *= factor;
}

/* ---------------------------------------------------------------- dropout
 * Inverted dropout's factors S of a block of units, and their product with
 * the activations (forward) or with the deltas (backward). The mask is a
 * select, not a branch, so that the loop over the units vectorises (64-bit
 * multiplies included: AVX-512 F and AVX2 build them from 32-bit ones). */

/* S[i, j] = scale where unit first_unit + j of row i keeps its activation,
 * else 0 (see nnbp_mix64 in nnbp_kernels.h): n rows of m columns, ld apart. */
static void NNBP(nnbp_dropout_mask)(size_t n, size_t m, size_t ld, uint64_t key,
                                    size_t first_unit, uint64_t threshold, REAL scale, REAL *S)
{
    for (size_t i = 0; i < n; ++i) {
        REAL *s = S + i * ld;
        const uint64_t row = key + NNBP_GOLDEN * ((uint64_t)i << 32);
        for (size_t j = 0; j < m; ++j) {
            const uint64_t h = nnbp_mix64(row + NNBP_GOLDEN * (uint64_t)(first_unit + j));
            s[j] = (h >> 11) >= threshold ? scale : (REAL)0;
        }
    }
}

/* Y = X * S elementwise, Y possibly X: n rows of m columns, ld apart. */
static void NNBP(nnbp_dropout_apply)(size_t n, size_t m, size_t ld, const REAL *S,
                                     const REAL *X, REAL *Y)
{
    for (size_t i = 0; i < n; ++i)
        for (size_t j = 0; j < m; ++j)
            Y[i * ld + j] = X[i * ld + j] * S[i * ld + j];
}

/* ---------------------------------------------------------------- small products
 * For a few rows, BLAS costs more than the arithmetic: gemm packs the whole
 * weight matrix (OpenBLAS's Haswell kernels do it even for one row), and a
 * threaded BLAS wakes its threads, 150-250 us after an idle spell. These
 * loops read each weight once, from where it lies, on the calling thread.
 * Their sums run in a fixed order, whatever the instruction set: a dot
 * product keeps NNBP_LANES partial sums (one 64-byte line of each operand
 * per step) and adds them pairwise at the end; the vectoriser maps the lanes
 * onto registers of any width without changing a rounding. */

#define NNBP_LANES (64 / sizeof(REAL))

/* z[r] = sum_k w_r[k] x[k] for the `rows` (at most NNBP_ROW_BLOCK) rows
 * w_r = W + r K, lane by lane, then the lanes pairwise. Inlined with `rows` a
 * constant, the sums stay in registers: written as arrays of scalars, GCC
 * kept them in memory (three times slower), so they are vectors of the
 * instruction set's width, NNBP_VECTOR_BYTES, which holds no rounding. The
 * tail of a row goes through a zero-padded line: adding zeros changes no sum. */
typedef REAL NNBP(vector) __attribute__((vector_size(NNBP_VECTOR_BYTES)));
#define NNBP_VECTOR_LANES (NNBP_VECTOR_BYTES / sizeof(REAL))
#define NNBP_VECTORS (NNBP_LANES / NNBP_VECTOR_LANES)

static inline NNBP(vector) NNBP(load)(const REAL *p)
{
    NNBP(vector) v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) void NNBP(dot_rows)(size_t rows, size_t K,
                                                                  const REAL *W, size_t ldw,
                                                                  const REAL *x, REAL *z)
{
    NNBP(vector) partial[NNBP_ROW_BLOCK][NNBP_VECTORS];
    _Pragma("GCC unroll 16") for (size_t r = 0; r < rows; ++r)
        _Pragma("GCC unroll 16") for (size_t v = 0; v < NNBP_VECTORS; ++v)
            partial[r][v] = (NNBP(vector)){0};
    const size_t whole = K - K % NNBP_LANES;
    for (size_t k = 0; k < whole; k += NNBP_LANES)
        _Pragma("GCC unroll 16") for (size_t r = 0; r < rows; ++r)
            _Pragma("GCC unroll 16") for (size_t v = 0; v < NNBP_VECTORS; ++v)
                partial[r][v] += NNBP(load)(W + r * ldw + k + v * NNBP_VECTOR_LANES)
                                 * NNBP(load)(x + k + v * NNBP_VECTOR_LANES);
    if (whole < K) {
        REAL x_tail[NNBP_LANES] = {0}, w_tail[NNBP_LANES] = {0};
        memcpy(x_tail, x + whole, (K - whole) * sizeof(REAL));
        for (size_t r = 0; r < rows; ++r) {
            memcpy(w_tail, W + r * ldw + whole, (K - whole) * sizeof(REAL));
            for (size_t v = 0; v < NNBP_VECTORS; ++v)
                partial[r][v] += NNBP(load)(w_tail + v * NNBP_VECTOR_LANES)
                                 * NNBP(load)(x_tail + v * NNBP_VECTOR_LANES);
        }
    }
    for (size_t r = 0; r < rows; ++r) {
        REAL lanes[NNBP_LANES];
        memcpy(lanes, partial[r], sizeof lanes);
        for (size_t width = NNBP_LANES / 2; width > 0; width /= 2)
            for (size_t j = 0; j < width; ++j)
                lanes[j] += lanes[j + width];
        z[r] = lanes[0];
    }
}

/* The three small products take their matrices as BLAS does: each a block
 * of a wider row-major matrix, its rows ld apart. */

/* Z = X W^T: X n-by-K, W M-by-K, Z n-by-M */
static void NNBP(nnbp_small_xwt)(size_t n, size_t M, size_t K, const REAL *X, size_t ldx,
                                 const REAL *W, size_t ldw, REAL *Z, size_t ldz)
{
    REAL z[NNBP_ROW_BLOCK];
    size_t i = 0;
    /* A block of rows of W serves every row of X while it is in L1. */
    for (; i + NNBP_ROW_BLOCK <= M; i += NNBP_ROW_BLOCK)
        for (size_t r = 0; r < n; ++r) {
            NNBP(dot_rows)(NNBP_ROW_BLOCK, K, W + i * ldw, ldw, X + r * ldx, z);
            for (size_t b = 0; b < NNBP_ROW_BLOCK; ++b)
                Z[r * ldz + i + b] = z[b];
        }
    for (; i < M; ++i)
        for (size_t r = 0; r < n; ++r)
            NNBP(dot_rows)(1, K, W + i * ldw, ldw, X + r * ldx, Z + r * ldz + i);
}

/* dX = D W: D n-by-M, W M-by-K, dX n-by-K; sums over i in order */
static void NNBP(nnbp_small_dw)(size_t n, size_t M, size_t K, const REAL *D, size_t ldd,
                                const REAL *W, size_t ldw, REAL *dX, size_t ldx)
{
    for (size_t r = 0; r < n; ++r)
        for (size_t j = 0; j < K; ++j)
            dX[r * ldx + j] = 0;
    for (size_t i = 0; i < M; ++i)
        for (size_t r = 0; r < n; ++r) {
            const REAL d = D[r * ldd + i];
            REAL *dx = dX + r * ldx;
            for (size_t j = 0; j < K; ++j)
                dx[j] += d * W[i * ldw + j];
        }
}

/* dW = D^T X: D n-by-M, X n-by-K, dW M-by-K; sums over r in order */
static void NNBP(nnbp_small_dtx)(size_t n, size_t M, size_t K, const REAL *D, size_t ldd,
                                 const REAL *X, size_t ldx, REAL *dW, size_t ldw)
{
    for (size_t i = 0; i < M; ++i) {
        REAL *dw = dW + i * ldw;
        const REAL d = D[i];
        for (size_t j = 0; j < K; ++j)
            dw[j] = d * X[j];
        for (size_t r = 1; r < n; ++r) {
            const REAL d_r = D[r * ldd + i];
            for (size_t j = 0; j < K; ++j)
                dw[j] += d_r * X[r * ldx + j];
        }
    }
}

/* The rule's constants, rounded to REAL as the flat updates' arguments are
 * (nnbp/_core.pyx). */
struct NNBP(constants) {
    REAL learning_rate, momentum, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, epsilon;
    REAL keep;      /* decoupled weight decay's 1 - lr wd, as nnbp_scale takes it */
};

/* One weight w stepped by the rule from its gradient g (taken before the
 * decay): w = keep w, then the rule, as the flat path's nnbp_scale and then
 * its update do it. */
static inline void NNBP(decayed_rule)(REAL g, const struct nnbp_rule *rule,
                                      const struct NNBP(constants) *c, REAL *w, REAL *s1,
                                      REAL *s2)
{
    *w *= c->keep;
    if (rule->adam)
        NNBP(adam_rule)(g, c->learning_rate, c->beta_1, c->one_minus_beta_1, c->beta_2,
                        c->one_minus_beta_2, c->epsilon, s1, s2, w);
    else if (s1 != NULL)
        NNBP(sgd_rule)(g, c->learning_rate, c->momentum, rule->nesterov, s1, w);
    else
        *w -= c->learning_rate * g;
}

/* One row w of W stepped by the rule, from g = d_i x + scale w; and dx += d_i w
 * with w as it was, unless dx is NULL. */
static inline void NNBP(step_row)(size_t K, REAL d_i, const REAL *x, REAL scale,
                                  const struct nnbp_rule *rule,
                                  const struct NNBP(constants) *c, REAL *w, REAL *s1,
                                  REAL *s2, REAL *dx)
{
    if (dx != NULL)
        for (size_t j = 0; j < K; ++j)
            dx[j] += d_i * w[j];
    /* One loop per rule and penalty, each simple enough to vectorise. */
    if (rule->decay != 0) {
        /* Decoupled weight decay: rare enough for one loop whose branches
         * on the rule do not change inside it (the compiler unswitches them). */
        for (size_t j = 0; j < K; ++j) {
            REAL g = d_i * x[j];
            if (scale != 0)
                g += scale * w[j];
            NNBP(decayed_rule)(g, rule, c, w + j, s1 == NULL ? NULL : s1 + j,
                               s2 == NULL ? NULL : s2 + j);
        }
    } else if (rule->adam) {
        for (size_t j = 0; j < K; ++j) {
            REAL g = d_i * x[j];
            if (scale != 0)
                g += scale * w[j];
            NNBP(adam_rule)(g, c->learning_rate, c->beta_1, c->one_minus_beta_1, c->beta_2,
                            c->one_minus_beta_2, c->epsilon, s1 + j, s2 + j, w + j);
        }
    } else if (s1 != NULL) {
        for (size_t j = 0; j < K; ++j) {
            REAL g = d_i * x[j];
            if (scale != 0)
                g += scale * w[j];
            NNBP(sgd_rule)(g, c->learning_rate, c->momentum, rule->nesterov, s1 + j, w + j);
        }
    } else if (scale != 0) {
        for (size_t j = 0; j < K; ++j)
            w[j] -= c->learning_rate * (d_i * x[j] + scale * w[j]);
    } else {
        /* The lecture's rule: W <- W - eta d x^T */
        for (size_t j = 0; j < K; ++j)
            w[j] -= c->learning_rate * (d_i * x[j]);
    }
}

/* One example's step on one layer, in one pass over W (M-by-K):
 * dx = W^T d with the weights before the step, unless dx is NULL;
 * g = d x^T + scale W (the L2 penalty's gradient; scale 0: none), and W
 * stepped by the rule, g never stored; and, unless x_next is NULL, z_next =
 * W x_next with the new weights, while they are in cache: the next example's
 * product, the same bits as nnbp_small_xwt's. Returns sum W^2 of the new
 * weights (in double; 0 when scale is 0): the next step's penalty. */
static double NNBP(nnbp_example_step)(size_t M, size_t K, const REAL *d, const REAL *x,
                                      REAL scale, const struct nnbp_rule *rule, REAL *W,
                                      REAL *state_1, REAL *state_2, REAL *dx,
                                      const REAL *x_next, REAL *z_next)
{
    const struct NNBP(constants) c = {
        (REAL)rule->learning_rate, (REAL)rule->momentum, (REAL)rule->beta_1,
        (REAL)(1 - rule->beta_1), (REAL)rule->beta_2, (REAL)(1 - rule->beta_2),
        (REAL)rule->epsilon, (REAL)(1 - rule->decay)};
    double squares = 0;
    if (dx != NULL)
        for (size_t j = 0; j < K; ++j)
            dx[j] = 0;
    /* Blocks of rows, so that the next example's dot products run on as many
     * rows at once as small_xwt's do. */
    for (size_t i = 0; i < M; i += NNBP_ROW_BLOCK) {
        const size_t rows = M - i < NNBP_ROW_BLOCK ? M - i : NNBP_ROW_BLOCK;
        for (size_t r = i; r < i + rows; ++r) {
            NNBP(step_row)(K, d[r], x, scale, rule, &c, W + r * K,
                           state_1 == NULL ? NULL : state_1 + r * K,
                           state_2 == NULL ? NULL : state_2 + r * K, dx);
            if (scale != 0)
                squares += NNBP(row_squares)(K, W + r * K);
        }
        if (x_next == NULL)
            continue;
        if (rows == NNBP_ROW_BLOCK)
            NNBP(dot_rows)(NNBP_ROW_BLOCK, K, W + i * K, K, x_next, z_next + i);
        else
            for (size_t r = i; r < i + rows; ++r)
                NNBP(dot_rows)(1, K, W + r * K, K, x_next, z_next + r);
    }
    return squares;
}

#undef NNBP_LANES
#undef NNBP_VECTOR_LANES
#undef NNBP_VECTORS
#undef NNBP_ROW_BLOCK
#undef NNBP_VECTOR_BYTES
#undef NNBP_PENALTY_LANES
#undef NNBP_FACTOR_LIMIT

#undef NNBP
#undef NNBP_NAME1
#undef NNBP_NAME2
