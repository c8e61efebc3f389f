/* exp, expm1, tanh, log1p and erf without branches or library calls, so that the
 * compiler vectorises the loops that use them (a call to the C library's
 * expf keeps a loop scalar: tanh alone cost more than the matrix products).
 *
 * Polynomials are Taylor series of exp and of atanh, truncated where the
 * next term falls below half an ulp on the reduced range, so there are no
 * fitted constants to trust. Accuracy, checked against float64/long double
 * references in tests/test_vecmath.py: a few ulps in float, a few 1e-16
 * (relative) in double. NaN gives NaN, and exp, tanh and erf take +-inf to
 * their limits: nnbp validates its inputs, but a weight that became NaN, or
 * a product that overflowed, must show in the result, not vanish.
 */
#ifndef NNBP_VECMATH_H
#define NNBP_VECMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ln 2 = LN2_HI + LN2_LO, with LN2_HI short enough that n * LN2_HI is exact
 * for every exponent n in range (Cody and Waite's reduction). */
#define NNBP_LN2_HI_F32 0x1.62p-1f                 /* 9 bits  */
#define NNBP_LN2_LO_F32 0x1.c85fdfp-10f
#define NNBP_LN2_HI_F64 0x1.62e42feep-1            /* 32 bits */
#define NNBP_LN2_LO_F64 0x1.a39ef35793c76p-33
#define NNBP_LOG2E_F32 0x1.715476p+0f
#define NNBP_LOG2E_F64 0x1.71547652b82fep+0

/* ---------------------------------------------------------------- float */

/* x = n ln2 + r, |r| <= ln2/2; returns e^r - 1 and sets 2^n. */
static inline float nnbp_expm1_reduced_f32(float x, float *two_to_n)
{
    /* Adding 1.5 * 2^23 rounds x log2(e) to an integer n, and leaves n in
     * the low bits of the sum: no conversion instruction needed. */
    const float shifter = 0x1.8p23f;
    const float shifted = x * NNBP_LOG2E_F32 + shifter;
    const float n = shifted - shifter;
    const float r = (x - n * NNBP_LN2_HI_F32) - n * NNBP_LN2_LO_F32;
    int32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits - 0x4b400000 + 127) << 23;          /* 0x4b400000: the bits of 1.5 * 2^23 */
    memcpy(two_to_n, &bits, sizeof bits);
    /* e^r - 1 = r + r^2/2! + ... + r^8/8!: the next term is < 2^-30 |r|. */
    float p = 1.0f / 40320;
    p = p * r + 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    return r + r * r * p;
}

/* e^x; 0 below -87.34 (where e^x is subnormal or 0), inf above 88.37
 * (where the exponent n would reach 128). */
static inline float nnbp_exp_f32(float x)
{
    const float lo = -87.33654f, hi = 88.37f;
    const float clamped = x < lo ? lo : (x > hi ? hi : x);
    float two_to_n;
    const float p = nnbp_expm1_reduced_f32(clamped, &two_to_n);
    const float y = two_to_n + two_to_n * p;
    return x < lo ? 0.0f : (x > hi ? (float)INFINITY : y);
}

/* tanh x = sign(x) e/(e + 2), e = e^(2|x|) - 1: no cancellation near 0. */
static inline float nnbp_tanh_f32(float x)
{
    const float ax = x < 0 ? -x : x;
    /* tanh rounds to 1 in float from |x| = 9.01 on: stop there, before e overflows.
     * Written as "ax > 10" so that NaN, for which every comparison is false,
     * takes the 2 ax branch and comes out NaN (not tanh(10) = 1). */
    const float twice = ax > 10.0f ? 20.0f : 2.0f * ax;
    float two_to_n;
    const float p = nnbp_expm1_reduced_f32(twice, &two_to_n);
    const float e = two_to_n * p + (two_to_n - 1.0f);    /* e^(2|x|) - 1 */
    const float t = e / (e + 2.0f);
    return x < 0 ? -t : t;
}

/* log(1 + t) for t >= 0. */
static inline float nnbp_log1p_f32(float t)
{
    const float u = 1.0f + t;
    const float lost = t - (u - 1.0f);                   /* what rounding 1 + t dropped */
    int32_t bits;
    memcpy(&bits, &u, sizeof bits);
    /* u = m 2^k with m in [sqrt(1/2), sqrt(2)): shift the exponent so. */
    const int32_t k = ((bits + (0x3f800000 - 0x3f3504f3)) >> 23) - 127;
    bits -= k << 23;
    float m;
    memcpy(&m, &bits, sizeof m);
    /* log m = 2 atanh s, s = (m-1)/(m+1), |s| <= 0.172: 2(s + s^3/3 + ... + s^11/11). */
    const float s = (m - 1.0f) / (m + 1.0f);
    const float s2 = s * s;
    float p = 1.0f / 11;
    p = p * s2 + 1.0f / 9;
    p = p * s2 + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    const float kf = (float)k;
    const float log_m = 2.0f * s + 2.0f * s * s2 * p;
    return (kf * NNBP_LN2_HI_F32 + (log_m + lost / u)) + kf * NNBP_LN2_LO_F32;
}

/* ---------------------------------------------------------------- double */

static inline double nnbp_expm1_reduced_f64(double x, double *two_to_n)
{
    const double shifter = 0x1.8p52;
    const double shifted = x * NNBP_LOG2E_F64 + shifter;
    const double n = shifted - shifter;
    const double r = (x - n * NNBP_LN2_HI_F64) - n * NNBP_LN2_LO_F64;
    int64_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits - INT64_C(0x4338000000000000) + 1023) << 52;
    memcpy(two_to_n, &bits, sizeof bits);
    /* e^r - 1 = r + r^2/2! + ... + r^14/14!: the next term is < 2^-60 |r|. */
    double p = 1.0 / 87178291200.0;
    p = p * r + 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    return r + r * r * p;
}

/* e^x; 0 below -708.39 (where e^x is subnormal or 0), inf above 709.08
 * (where the exponent n would reach 1024). */
static inline double nnbp_exp_f64(double x)
{
    const double lo = -708.3964185322641, hi = 709.08;
    const double clamped = x < lo ? lo : (x > hi ? hi : x);
    double two_to_n;
    const double p = nnbp_expm1_reduced_f64(clamped, &two_to_n);
    const double y = two_to_n + two_to_n * p;
    return x < lo ? 0.0 : (x > hi ? (double)INFINITY : y);
}

static inline double nnbp_tanh_f64(double x)
{
    const double ax = x < 0 ? -x : x;
    /* tanh rounds to 1 in double from |x| = 19.06 on; NaN takes the 2 ax branch. */
    const double twice = ax > 20.0 ? 40.0 : 2.0 * ax;
    double two_to_n;
    const double p = nnbp_expm1_reduced_f64(twice, &two_to_n);
    const double e = two_to_n * p + (two_to_n - 1.0);
    const double t = e / (e + 2.0);
    return x < 0 ? -t : t;
}

static inline double nnbp_log1p_f64(double t)
{
    const double u = 1.0 + t;
    const double lost = t - (u - 1.0);
    int64_t bits;
    memcpy(&bits, &u, sizeof bits);
    const int64_t k = ((bits + (INT64_C(0x3ff0000000000000) - INT64_C(0x3fe6a09e667f3bcd))) >> 52)
                      - 1023;
    bits -= k << 52;
    double m;
    memcpy(&m, &bits, sizeof m);
    /* 2(s + s^3/3 + ... + s^23/23), |s| <= 0.172: the next term is < 2^-55 s. */
    const double s = (m - 1.0) / (m + 1.0);
    const double s2 = s * s;
    double p = 1.0 / 23;
    p = p * s2 + 1.0 / 21;
    p = p * s2 + 1.0 / 19;
    p = p * s2 + 1.0 / 17;
    p = p * s2 + 1.0 / 15;
    p = p * s2 + 1.0 / 13;
    p = p * s2 + 1.0 / 11;
    p = p * s2 + 1.0 / 9;
    p = p * s2 + 1.0 / 7;
    p = p * s2 + 1.0 / 5;
    p = p * s2 + 1.0 / 3;
    /* k as a double by the shifter trick: an int64 to double conversion has
     * no vector instruction before AVX-512 and would keep the loop scalar. */
    const int64_t k_shifted = k + INT64_C(0x4338000000000000);
    double kf;
    memcpy(&kf, &k_shifted, sizeof kf);
    kf -= 0x1.8p52;
    const double log_m = 2.0 * s + 2.0 * s * s2 * p;
    return (kf * NNBP_LN2_HI_F64 + (log_m + lost / u)) + kf * NNBP_LN2_LO_F64;
}

/* ---------------------------------------------------------------- erf
 *
 * erf in double, from two series whose coefficients are exact rationals
 * (no fitted constants), each where it converges fast, both computed and
 * one selected (a branch would keep the loop scalar). For a = |x|:
 *
 * a <= 2: Kummer's series, erf a = 2/sqrt(pi) a e^(-a^2) sum_n (2a^2)^n / (2n+1)!!.
 *   Its terms are all positive, so no cancellation (the Taylor series of erf
 *   alternates, and loses e^(a^2) = 55 to cancellation at a = 2). 32 terms:
 *   the first left out is below 2^-54 of the sum at a = 2.
 * a > 2: erf a = 1 - erfc a, erfc a = e^(-a^2)/sqrt(pi) / F, F the continued
 *   fraction a + (1/2)/(a + 1/(a + (3/2)/(a + ...))) (Abramowitz and Stegun
 *   7.1.14), 56 levels: relative error < 1e-16 at a = 2, where erfc a <
 *   0.0047, so its error in erf is far below an ulp. Past a = 6.5, erfc a <
 *   2^-64 and erf rounds to 1: a is clamped there.
 *
 * Accuracy (tests/test_vecmath.py, against scipy.special.erf, on -30..30):
 * within 7 ulps in double, the worst near |x| = 1.9, where each level of
 * Kummer's sum rounds and the sum carries it (3 ulps at the 99th
 * percentile; above |x| = 2, half an ulp); the float erf is the double one
 * rounded, within an ulp. erf(+-0) = +-0, erf(+-inf) = +-1, erf(NaN) = NaN.
 * Both branches run for every element (about 32 divisions and 400 other
 * operations): the price of a loop without branches. */

#define NNBP_ERF_SPLIT 2.0
#define NNBP_ERF_ONE 6.5
#define NNBP_TWO_OVER_SQRT_PI 0x1.20dd750429b6dp+0
#define NNBP_ONE_OVER_SQRT_PI 0x1.20dd750429b6dp-1

/* a^2 = hi + lo exactly (Veltkamp's splitting and Dekker's product, exact
 * without FMA): the series' terms are powers of a^2 and e^(-a^2), and the
 * rounding of a^2 (up to 2^-53 relative) would come back n times in the
 * n-th term, several ulps at a = 2. */
static inline double nnbp_square_f64(double a, double *lo)
{
    const double c = 0x1.0000002p+27 * a;                 /* 2^27 + 1 */
    const double a_hi = c - (c - a), a_lo = a - a_hi;
    const double hi = a * a;
    *lo = ((a_hi * a_hi - hi) + 2.0 * a_hi * a_lo) + a_lo * a_lo;
    return hi;
}

/* erf a for 0 <= a <= 2 (Kummer's series, Horner's rule in 2a^2, with
 * 2a^2 = t_hi + t_lo kept apart). */
static inline double nnbp_erf_small_f64(double a)
{
    double lo;
    const double hi = nnbp_square_f64(a, &lo);
    const double t_hi = 2.0 * hi, t_lo = 2.0 * lo;
    /* sum_{n=0}^{31} t^n / (2n+1)!!, each level dividing by its 2n+1 (exact
     * odd integers: no rounded coefficients). Unrolled, so that the loop
     * over the elements, not this one, is the one vectorised. */
    double p = 1.0;
#pragma GCC unroll 31
    for (int n = 31; n >= 1; --n)
        p = 1.0 + (p * t_hi + p * t_lo) / (double)(2 * n + 1);
    /* e^-(hi + lo) = e^-hi (1 - lo): lo is below 2^-50, its square is nothing. */
    const double e = nnbp_exp_f64(-hi);
    return NNBP_TWO_OVER_SQRT_PI * a * ((e - e * lo) * p);
}

/* erfc a for 2 <= a <= 6.5 (the continued fraction, by its forward
 * recurrence: one division, not one per level; every term is positive, so
 * the recurrence is stable, and 6.5^57 < 2^154 does not overflow). */
static inline double nnbp_erfc_large_f64(double a)
{
    double num_prev = 1.0, num = a;                       /* A_-1, A_0 */
    double den_prev = 0.0, den = 1.0;                     /* B_-1, B_0 */
#pragma GCC unroll 56
    for (int k = 1; k <= 56; ++k) {
        const double num_next = a * num + 0.5 * k * num_prev;
        const double den_next = a * den + 0.5 * k * den_prev;
        num_prev = num, num = num_next;
        den_prev = den, den = den_next;
    }
    return NNBP_ONE_OVER_SQRT_PI * nnbp_exp_f64(-(a * a)) * (den / num);
}

static inline double nnbp_erf_f64(double x)
{
    const double a = x < 0 ? -x : x;
    /* NaN fails every comparison: it stays NaN in small, which is selected. */
    const double small = a > NNBP_ERF_SPLIT ? NNBP_ERF_SPLIT : a;
    const double large = a < NNBP_ERF_SPLIT ? NNBP_ERF_SPLIT : (a > NNBP_ERF_ONE ? NNBP_ERF_ONE : a);
    const double r = a > NNBP_ERF_SPLIT ? 1.0 - nnbp_erfc_large_f64(large)
                                        : nnbp_erf_small_f64(small);
    return copysign(r, x);
}

/* The double erf, rounded: float has no room to carry a^2's rounding error,
 * and its exp is a few ulps off; in double both vanish before the rounding. */
static inline float nnbp_erf_f32(float x)
{
    return (float)nnbp_erf_f64((double)x);
}

#endif
