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
 * within 6 ulps in double, the worst near |x| = 1.9, where each level of
 * Kummer's sum rounds and the sum carries it (3 ulps at the 99th
 * percentile; above |x| = 2, half an ulp); the float erf (below) is
 * computed in double, and within an ulp. erf(+-0) = +-0, erf(+-inf) = +-1, erf(NaN) = NaN.
 * Both branches run for every element (about 500 operations, one
 * division): the price of a loop without branches. */

/* erf's pieces are large: GCC's inliner leaves them out of line, and a call
 * keeps the loop that makes it scalar (300 ns an element). Forced inline. */
#if defined(__GNUC__)
#define NNBP_ERF_INLINE static inline __attribute__((always_inline))
#else
#define NNBP_ERF_INLINE static inline
#endif

#define NNBP_ERF_SPLIT 2.0
#define NNBP_ERF_ONE 6.5
#define NNBP_TWO_OVER_SQRT_PI 0x1.20dd750429b6dp+0
#define NNBP_ONE_OVER_SQRT_PI 0x1.20dd750429b6dp-1

/* a^2 = hi + lo exactly (Veltkamp's splitting and Dekker's product, exact
 * without FMA): the series' terms are powers of a^2 and e^(-a^2), and the
 * rounding of a^2 (up to 2^-53 relative) would come back n times in the
 * n-th term, several ulps at a = 2. */
NNBP_ERF_INLINE double nnbp_square_f64(double a, double *lo)
{
    const double c = 0x1.0000002p+27 * a;                 /* 2^27 + 1 */
    const double a_hi = c - (c - a), a_lo = a - a_hi;
    const double hi = a * a;
    *lo = ((a_hi * a_hi - hi) + 2.0 * a_hi * a_lo) + a_lo * a_lo;
    return hi;
}

/* erf a for 0 <= a <= 2 (Kummer's series, Horner's rule in 2a^2, with
 * 2a^2 = t_hi + t_lo kept apart). */
NNBP_ERF_INLINE double nnbp_erf_small_f64(double a)
{
    double lo;
    const double hi = nnbp_square_f64(a, &lo);
    const double t_hi = 2.0 * hi, t_lo = 2.0 * lo;
    /* sum_{n=0}^{31} t^n / (2n+1)!! by Horner's rule, written out level by
     * level (nothing left to the compiler's unrolling of a loop inside the
     * loops over the elements, which must vectorise). The coefficients are
     * 1/(2n+1)!! correctly rounded (Python: float(Fraction(1, (2n+1)!!))),
     * each within half an ulp: a division by 2n+1 at each level instead
     * was no more accurate (7 ulps at worst, not 6) and cost 32 divisions. */
    double p = 0x1.96c8bf0d31af7p-147;                    /* 1/63!! */
#define K(c) p = (c) + (p * t_hi + p * t_lo);
    K(0x1.906d9c10fce8bp-141)   /* 1/61!! */
    K(0x1.7da878c0310ddp-135)   /* 1/59!! */
    K(0x1.5fd74f512d38cp-129)   /* 1/57!! */
    K(0x1.395bc2a44c468p-123)   /* 1/55!! */
    K(0x1.0d4adb45318cap-117)   /* 1/53!! */
    K(0x1.be03fb2a9a10ep-112)   /* 1/51!! */
    K(0x1.636b2c25f2c57p-106)   /* 1/49!! */
    K(0x1.101e0dcd0ddf3p-100)   /* 1/47!! */
    K(0x1.8fac24452c5fdp-95)   /* 1/45!! */
    K(0x1.19050980a3336p-89)   /* 1/43!! */
    K(0x1.799ec4c4db4d0p-84)   /* 1/41!! */
    K(0x1.e3d36c1c38faap-79)   /* 1/39!! */
    K(0x1.26d4d5e132b8cp-73)   /* 1/37!! */
    K(0x1.54e6174c62a5ap-68)   /* 1/35!! */
    K(0x1.74dba97b8be52p-63)   /* 1/33!! */
    K(0x1.808286c768445p-58)   /* 1/31!! */
    K(0x1.747e72912d023p-53)   /* 1/29!! */
    K(0x1.519297d390c9fp-48)   /* 1/27!! */
    K(0x1.1cd3b01a822a6p-43)   /* 1/25!! */
    K(0x1.bd0ac3296b624p-39)   /* 1/23!! */
    K(0x1.3fdfbc45c52eap-34)   /* 1/21!! */
    K(0x1.a3d5a71b92cd3p-30)   /* 1/19!! */
    K(0x1.f28db670be53bp-26)   /* 1/17!! */
    K(0x1.08db48ebe51c7p-21)   /* 1/15!! */
    K(0x1.f09b28ba4d955p-18)   /* 1/13!! */
    K(0x1.937e11175f095p-14)   /* 1/11!! */
    K(0x1.1566abc011567p-10)   /* 1/9!! */
    K(0x1.3813813813814p-7)   /* 1/7!! */
    K(0x1.1111111111111p-4)   /* 1/5!! */
    K(0x1.5555555555555p-2)   /* 1/3!! */
    K(0x1.0000000000000p+0)   /* 1/1!! */
#undef K
    /* e^-(hi + lo) = e^-hi (1 - lo): lo is below 2^-50, its square is nothing. */
    const double e = nnbp_exp_f64(-hi);
    return NNBP_TWO_OVER_SQRT_PI * a * ((e - e * lo) * p);
}

/* 1 / F, F the continued fraction of erfc a for a >= 2 (by its forward
 * recurrence: one division, not one per level; every term is positive, so
 * the recurrence is stable, and 27.3^57 < 2^272 does not overflow). */
NNBP_ERF_INLINE double nnbp_erfc_fraction_f64(double a)
{
    double num_prev = 1.0, num = a;                       /* A_-1, A_0 */
    double den_prev = 0.0, den = 1.0;                     /* B_-1, B_0 */
    /* Written out, as the series above. */
#define F(k)                                                               \
    {                                                                      \
        const double num_next = a * num + 0.5 * (k) * num_prev;            \
        const double den_next = a * den + 0.5 * (k) * den_prev;            \
        num_prev = num, num = num_next;                                    \
        den_prev = den, den = den_next;                                    \
    }
    F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11) F(12) F(13) F(14) F(15)
    F(16) F(17) F(18) F(19) F(20) F(21) F(22) F(23) F(24) F(25) F(26) F(27) F(28)
    F(29) F(30) F(31) F(32) F(33) F(34) F(35) F(36) F(37) F(38) F(39) F(40) F(41)
    F(42) F(43) F(44) F(45) F(46) F(47) F(48) F(49) F(50) F(51) F(52) F(53) F(54)
    F(55) F(56)
#undef F
    return den / num;
}

/* erfc a for 2 <= a <= 6.5. */
NNBP_ERF_INLINE double nnbp_erfc_large_f64(double a)
{
    return NNBP_ONE_OVER_SQRT_PI * nnbp_exp_f64(-(a * a)) * nnbp_erfc_fraction_f64(a);
}

/* erfc a for a >= 2, to its relative accuracy down to the subnormals, where 1 -
 * erf a has only an absolute one: e^(-a^2) is taken as e^(52 ln 2 - a^2)
 * 2^-52, which exp still reaches past its limit e^-708 (erfc 26.6), down to
 * a = 27.3, past which erfc a is 0 in double. a is clamped to [2, 27.3]. */
#define NNBP_ERFC_ZERO 27.3
NNBP_ERF_INLINE double nnbp_erfc_tail_f64(double a)
{
    const double below_zero = a > NNBP_ERFC_ZERO ? NNBP_ERFC_ZERO : a;
    const double b = below_zero < NNBP_ERF_SPLIT ? NNBP_ERF_SPLIT : below_zero;
    const double e = nnbp_exp_f64(0x1.205966f2b4f12p+5 - b * b) * 0x1p-52;   /* 52 ln 2 */
    /* Computed before the select: with the call in one arm of it, GCC keeps
     * the loop scalar (four times slower). */
    const double erfc = NNBP_ONE_OVER_SQRT_PI * e * nnbp_erfc_fraction_f64(b);
    return a > NNBP_ERFC_ZERO ? 0.0 : erfc;
}

NNBP_ERF_INLINE double nnbp_erf_f64(double x)
{
    const double a = x < 0 ? -x : x;
    /* NaN fails every comparison: it stays NaN in small, which is selected. */
    const double small = a > NNBP_ERF_SPLIT ? NNBP_ERF_SPLIT : a;
    const double large = a < NNBP_ERF_SPLIT ? NNBP_ERF_SPLIT : (a > NNBP_ERF_ONE ? NNBP_ERF_ONE : a);
    /* Both computed, then one selected: a branch would keep the loop scalar. */
    const double below = nnbp_erf_small_f64(small);
    const double above = 1.0 - nnbp_erfc_large_f64(large);
    const double r = a > NNBP_ERF_SPLIT ? above : below;
    return copysign(r, x);
}

/* erf for float, in double with as many terms as float needs: the result,
 * rounded to float, is within an ulp. float itself has no room to carry
 * a^2's rounding error, and its exp is a few ulps off; in double both
 * vanish before the rounding. Kummer's series to a = 2 in 26 terms (the
 * first left out is below 2^-41 of the sum, so that 1 + erf keeps float's
 * accuracy down to Phi(-2.83) = 0.0023; a^2's rounding, 2^-51 relative at
 * most, needs no splitting here), the continued fraction of erfc above in
 * 20 levels (relative error < 1.2e-9 at a = 2, and less above, which 1 +
 * erf = erfc keeps): half the operations of the double erf, and shorter
 * chains of dependent ones. */
NNBP_ERF_INLINE double nnbp_erf_small_for_f32(double a)
{
    const double square = a * a, t = 2.0 * square;
    double p = 0x1.be03fb2a9a10ep-112;                    /* 1/51!! */
#define K(c) p = (c) + p * t;
    K(0x1.636b2c25f2c57p-106)   /* 1/49!! */
    K(0x1.101e0dcd0ddf3p-100)   /* 1/47!! */
    K(0x1.8fac24452c5fdp-95)   /* 1/45!! */
    K(0x1.19050980a3336p-89)   /* 1/43!! */
    K(0x1.799ec4c4db4d0p-84)   /* 1/41!! */
    K(0x1.e3d36c1c38faap-79)   /* 1/39!! */
    K(0x1.26d4d5e132b8cp-73)   /* 1/37!! */
    K(0x1.54e6174c62a5ap-68)   /* 1/35!! */
    K(0x1.74dba97b8be52p-63)   /* 1/33!! */
    K(0x1.808286c768445p-58)   /* 1/31!! */
    K(0x1.747e72912d023p-53)   /* 1/29!! */
    K(0x1.519297d390c9fp-48)   /* 1/27!! */
    K(0x1.1cd3b01a822a6p-43)   /* 1/25!! */
    K(0x1.bd0ac3296b624p-39)   /* 1/23!! */
    K(0x1.3fdfbc45c52eap-34)   /* 1/21!! */
    K(0x1.a3d5a71b92cd3p-30)   /* 1/19!! */
    K(0x1.f28db670be53bp-26)   /* 1/17!! */
    K(0x1.08db48ebe51c7p-21)   /* 1/15!! */
    K(0x1.f09b28ba4d955p-18)   /* 1/13!! */
    K(0x1.937e11175f095p-14)   /* 1/11!! */
    K(0x1.1566abc011567p-10)   /* 1/9!! */
    K(0x1.3813813813814p-7)   /* 1/7!! */
    K(0x1.1111111111111p-4)   /* 1/5!! */
    K(0x1.5555555555555p-2)   /* 1/3!! */
    K(0x1.0000000000000p+0)   /* 1/1!! */
#undef K
    return NNBP_TWO_OVER_SQRT_PI * a * (nnbp_exp_f64(-square) * p);
}

NNBP_ERF_INLINE double nnbp_erfc_large_for_f32(double a)
{
    double num_prev = 1.0, num = a, den_prev = 0.0, den = 1.0;
#define F(k)                                                               \
    {                                                                      \
        const double num_next = a * num + 0.5 * (k) * num_prev;            \
        const double den_next = a * den + 0.5 * (k) * den_prev;            \
        num_prev = num, num = num_next;                                    \
        den_prev = den, den = den_next;                                    \
    }
    F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11) F(12) F(13) F(14) F(15) F(16) F(17) F(18) F(19) F(20)
#undef F
    return NNBP_ONE_OVER_SQRT_PI * nnbp_exp_f64(-(a * a)) * (den / num);
}

/* erf(x) in double, to float's accuracy: for float's erf and gelu's Phi. */
NNBP_ERF_INLINE double nnbp_erf_for_f32(double x)
{
    const double a = x < 0 ? -x : x;
    const double small = a > NNBP_ERF_SPLIT ? NNBP_ERF_SPLIT : a;
    const double large = a < NNBP_ERF_SPLIT ? NNBP_ERF_SPLIT : (a > NNBP_ERF_ONE ? NNBP_ERF_ONE : a);
    const double below = nnbp_erf_small_for_f32(small);
    const double above = 1.0 - nnbp_erfc_large_for_f32(large);
    return copysign(a > NNBP_ERF_SPLIT ? above : below, x);
}

NNBP_ERF_INLINE float nnbp_erf_f32(float x)
{
    return (float)nnbp_erf_for_f32((double)x);
}

#endif
