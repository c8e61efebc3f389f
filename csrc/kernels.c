/* Instantiates csrc/kernels_impl.h for float and double, each for the x86-64
 * baseline, for AVX2 and for AVX-512, and exports dispatchers that call one
 * of them.
 *
 * Dispatch pays where the loops call the vectorised exp, tanh and log1p of
 * vecmath.h (AVX2 does 8 floats at once where the baseline, SSE2, does 4),
 * and in the small products, which read the weights as fast as the
 * registers are wide. The loops have no reductions across lanes but in a
 * fixed lane order, and no FMA contraction, so every variant gives bitwise
 * the same results; the tests run under each. -std=c99 turns contraction
 * off for GCC only: clang and zig cc fuse a*b + c by default, so setup.py
 * passes -ffp-contract=off to every compiler (tests/test_kernel_targets.py
 * compares the results of gcc, clang/zig and aarch64 builds bit for bit).
 */
#include <math.h>
#include <string.h>
#include "nnbp_kernels.h"
#include "vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NNBP_HAVE_X86_VARIANTS 1
#else
#define NNBP_HAVE_X86_VARIANTS 0
#endif

/* The small products' register width, NNBP_VECTOR_BYTES, and NNBP_ROW_BLOCK,
 * the rows of W they take at once: as many as keep their partial sums (64
 * bytes a row) and a line of x in the registers, 2 rows in SSE2's 16, 4 in
 * AVX2's 16 twice as wide, 8 in AVX-512's 32. Neither changes a rounding,
 * only the speed. kernels_impl.h undefines both. */
#define REAL float
#define EXP nnbp_exp_f32
#define SQRT sqrtf
#define LOG1P nnbp_log1p_f32
#define TANH nnbp_tanh_f32
#define NNBP_VECTOR_BYTES 16
#define NNBP_ROW_BLOCK 2
#define SUFFIX f32_baseline
#include "kernels_impl.h"
#undef SUFFIX
#if NNBP_HAVE_X86_VARIANTS
#pragma GCC push_options
#pragma GCC target("avx2")
#define NNBP_VECTOR_BYTES 32
#define NNBP_ROW_BLOCK 4
#define SUFFIX f32_avx2
#include "kernels_impl.h"
#undef SUFFIX
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f")
#define NNBP_VECTOR_BYTES 64
#define NNBP_ROW_BLOCK 8
#define SUFFIX f32_avx512
#include "kernels_impl.h"
#undef SUFFIX
#pragma GCC pop_options
#endif
#undef REAL
#undef EXP
#undef SQRT
#undef LOG1P
#undef TANH

#define REAL double
#define EXP nnbp_exp_f64
#define SQRT sqrt
#define LOG1P nnbp_log1p_f64
#define TANH nnbp_tanh_f64
#define NNBP_VECTOR_BYTES 16
#define NNBP_ROW_BLOCK 2
#define SUFFIX f64_baseline
#include "kernels_impl.h"
#undef SUFFIX
#if NNBP_HAVE_X86_VARIANTS
#pragma GCC push_options
#pragma GCC target("avx2")
#define NNBP_VECTOR_BYTES 32
#define NNBP_ROW_BLOCK 4
#define SUFFIX f64_avx2
#include "kernels_impl.h"
#undef SUFFIX
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f")
#define NNBP_VECTOR_BYTES 64
#define NNBP_ROW_BLOCK 8
#define SUFFIX f64_avx512
#include "kernels_impl.h"
#undef SUFFIX
#pragma GCC pop_options
#endif
#undef REAL
#undef EXP
#undef SQRT
#undef LOG1P
#undef TANH

/* ---------------------------------------------------------------- finiteness */

/* inf and nan are the values whose exponent bits are all ones. Adding one
 * unit of exponent to the exponent bits carries into the sign bit for those
 * values only: integer and, add and or, which vectorise even where 64-bit
 * compares do not (SSE2). Blocks let the loop stop soon after a bad value. */
#define NNBP_FINITE_BLOCK 4096
#define NNBP_ALL_FINITE(REAL_, BITS, EXPONENT, UNIT, SIGN, T)                          \
    int nnbp_all_finite_##T(size_t n, const REAL_ *x)                            \
    {                                                                           \
        for (size_t start = 0; start < n; start += NNBP_FINITE_BLOCK) {         \
            const size_t end = n - start < NNBP_FINITE_BLOCK ? n : start + NNBP_FINITE_BLOCK; \
            BITS bad = 0;                                                       \
            for (size_t k = start; k < end; k++) {                              \
                BITS bits;                                                      \
                memcpy(&bits, x + k, sizeof bits);                              \
                bad |= (bits & EXPONENT) + UNIT;                                \
            }                                                                   \
            if (bad & SIGN)                                                     \
                return 0;                                                       \
        }                                                                       \
        return 1;                                                               \
    }

NNBP_ALL_FINITE(float, uint32_t, UINT32_C(0x7f800000), UINT32_C(0x00800000),
                UINT32_C(0x80000000), f32)
NNBP_ALL_FINITE(double, uint64_t, UINT64_C(0x7ff0000000000000), UINT64_C(0x0010000000000000),
                UINT64_C(0x8000000000000000), f64)

/* ---------------------------------------------------------------- dropout's key */

/* The key of one layer's masks at one step: the seed's splitmix64 stream at
 * the step, then that stream's at the layer (see nnbp_mix64). */
uint64_t nnbp_dropout_key(uint64_t seed, uint64_t step, uint64_t layer)
{
    return nnbp_mix64(nnbp_mix64(seed + NNBP_GOLDEN * (step + 1)) + NNBP_GOLDEN * layer);
}

/* ---------------------------------------------------------------- dispatch */

static int nnbp_isa = NNBP_ISA_BASELINE;

/* The best instruction set at most `ceiling` that this processor runs. */
static int nnbp_best_isa(int ceiling)
{
#if NNBP_HAVE_X86_VARIANTS
    __builtin_cpu_init();
    if (ceiling >= NNBP_ISA_AVX512 && __builtin_cpu_supports("avx512f"))
        return NNBP_ISA_AVX512;
    if (ceiling >= NNBP_ISA_AVX2 && __builtin_cpu_supports("avx2"))
        return NNBP_ISA_AVX2;
#endif
    (void)ceiling;
    return NNBP_ISA_BASELINE;
}

int nnbp_select_isa(int requested)
{
    if (requested == NNBP_ISA_BEST)
        nnbp_isa = nnbp_best_isa(NNBP_ISA_AVX512);
    else if (requested >= NNBP_ISA_BASELINE && nnbp_best_isa(requested) == requested)
        nnbp_isa = requested;
    return nnbp_isa;
}

#if NNBP_HAVE_X86_VARIANTS
#define NNBP_PICK(name, T)                                          \
    (nnbp_isa == NNBP_ISA_AVX512 ? name##_##T##_avx512              \
     : nnbp_isa == NNBP_ISA_AVX2 ? name##_##T##_avx2 : name##_##T##_baseline)
#else
#define NNBP_PICK(name, T) name##_##T##_baseline
#endif

/* The dispatchers of csrc/kernel_list.py's dispatched kernels. */
#include "kernels_dispatch.h"
