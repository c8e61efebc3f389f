/* A fingerprint of the C kernels' results, for tests/test_kernel_targets.py.
 *
 * Runs the dense kernels (activations and their derivatives, the output losses,
 * the L2 penalty, sgd and Adam, the small products, the one-example step, dropout) in
 * float and double on fixed pseudo-random data, and prints one FNV-1a hash of
 * their output bits per kernel. Built by several compilers, for several
 * targets, and run at each instruction set (argv[1]: 0 baseline, 1 AVX2,
 * 2 AVX-512, -1 the best), every build must print the same lines: a fused
 * multiply-add or a reordered sum changes a last bit, and so a hash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nnbp_kernels.h"

#define N 7      /* rows: neither a multiple of a vector's lanes nor of a row block */
#define M 13     /* units */
#define K 11     /* inputs */

static uint64_t lcg_state = 12345u;

/* In [-2, 2): exact in float, so both types start from the same values. */
static double uniform(void)
{
    lcg_state = lcg_state * 6364136223846793005u + 1442695040888963407u;
    return (double)(lcg_state >> 40) / (double)(1u << 24) * 4.0 - 2.0;
}

static uint64_t fnv1a(uint64_t hash, const void *data, size_t bytes)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < bytes; i++)
        hash = (hash ^ p[i]) * 1099511628211u;
    return hash;
}

static void print_hash(const char *kernel, const char *type, const void *data, size_t bytes)
{
    printf("%s %s %016llx\n", kernel, type,
           (unsigned long long)fnv1a(14695981039346656037u, data, bytes));
}

#define DEFINE_FINGERPRINT(REAL, SUFFIX, NAME)                                          \
static void fingerprint_##SUFFIX(void)                                                  \
{                                                                                       \
    REAL X[N * K], W[M * K], bias[M], Z[N * M], A[N * M], D[N * M], Y[N * M];           \
    REAL sums[M], G[M * K], dW[M * K], dX[N * K], v[M * K], m2[M * K];                  \
    REAL dx[K], d[M];                                                                         \
    double row_sums[M], results[4];                                                     \
    int64_t labels[N];                                                                  \
    lcg_state = 12345u;                                                                 \
    for (size_t i = 0; i < N * K; i++) X[i] = (REAL)uniform();                          \
    for (size_t i = 0; i < M * K; i++) W[i] = (REAL)uniform();                          \
    for (size_t i = 0; i < M; i++) bias[i] = (REAL)uniform();                           \
    for (size_t i = 0; i < N * M; i++) Y[i] = (REAL)(uniform() + 2.0) / 4;              \
    for (size_t i = 0; i < N; i++) labels[i] = (int64_t)(i * 5 % M);                    \
    nnbp_small_xwt_##SUFFIX(N, M, K, X, K, W, K, Z, M);                                 \
    print_hash("small_xwt", NAME, Z, sizeof Z);                                         \
    for (int act = NNBP_IDENTITY; act <= NNBP_SILU; act++) {                            \
        REAL Za[N * M];                                                                 \
        char label[32];                                                                 \
        memcpy(Za, Z, sizeof Z);                                                        \
        nnbp_bias_activation_##SUFFIX(act, (REAL)0.01, N, M, M, bias, Za, A);           \
        for (size_t i = 0; i < N * M; i++) D[i] = Y[i] - (REAL)0.5;                     \
        nnbp_activation_backward_##SUFFIX(act, (REAL)0.01, N, M, M, Za, A, D, sums);    \
        snprintf(label, sizeof label, "activation_%d", act);                            \
        print_hash(label, NAME, A, sizeof A);                                           \
        snprintf(label, sizeof label, "backward_%d", act);                              \
        print_hash(label, NAME, D, sizeof D);                                           \
        print_hash(label, NAME, sums, sizeof sums);                                     \
    }                                                                                   \
    for (int out = NNBP_SQUARED; out <= NNBP_POISSON; out++) {                          \
        REAL Zo[N * M];                                                                 \
        char label[32];                                                                 \
        memcpy(Zo, Z, sizeof Z);                                                        \
        results[0] = nnbp_output_loss_##SUFFIX(out, N, M, Zo, Y, labels, NULL, 0.5, D); \
        nnbp_output_activation_##SUFFIX(out, N, M, Zo);                                 \
        snprintf(label, sizeof label, "output_%d", out);                                \
        print_hash(label, NAME, Zo, sizeof Zo);                                         \
        print_hash(label, NAME, D, sizeof D);                                           \
        print_hash(label, NAME, results, sizeof results[0]);                            \
        for (size_t i = 0; i < N * M; i++) D[i] = Y[i] - (REAL)0.5;                     \
        nnbp_output_backward_##SUFFIX(out, N, M, Zo, D);                                \
        snprintf(label, sizeof label, "output_backward_%d", out);                       \
        print_hash(label, NAME, D, sizeof D);                                           \
    }                                                                                   \
    for (int loss = NNBP_HUBER; loss <= NNBP_QUANTILE; loss++) {                        \
        char label[32];                                                                 \
        results[3] = nnbp_regression_loss_##SUFFIX(loss, 0.3, N, M, Z, Y, NULL, 0.5, D); \
        snprintf(label, sizeof label, "regression_loss_%d", loss);                      \
        print_hash(label, NAME, D, sizeof D);                                           \
        print_hash(label, NAME, results + 3, sizeof results[3]);                        \
    }                                                                                   \
    for (size_t i = 0; i < M * K; i++) G[i] = (REAL)uniform();   /* it adds scale W */ \
    results[1] = nnbp_l2_penalty_##SUFFIX(M, K, (REAL)0.001, W, G, row_sums);           \
    print_hash("l2_penalty", NAME, G, sizeof G);                                        \
    print_hash("l2_penalty", NAME, row_sums, sizeof row_sums);                          \
    print_hash("l2_penalty", NAME, results + 1, sizeof results[1]);                     \
    for (size_t i = 0; i < N * M; i++) D[i] = Y[i] - (REAL)0.5;                         \
    nnbp_small_dw_##SUFFIX(N, M, K, D, M, W, K, dX, K);                                 \
    print_hash("small_dw", NAME, dX, sizeof dX);                                        \
    nnbp_small_dtx_##SUFFIX(N, M, K, D, M, X, K, dW, K);                                \
    print_hash("small_dtx", NAME, dW, sizeof dW);                                       \
    memset(v, 0, sizeof v);                                                             \
    nnbp_sgd_update_##SUFFIX(M * K, (REAL)0.1, (REAL)0.9, 1, dW, v, G);                 \
    print_hash("sgd_update", NAME, G, sizeof G);                                        \
    memset(v, 0, sizeof v);                                                             \
    memset(m2, 0, sizeof m2);                                                           \
    nnbp_adam_update_##SUFFIX(M * K, (REAL)0.001, (REAL)0.9, (REAL)0.1, (REAL)0.999,    \
                              (REAL)0.001, (REAL)1e-8, dW, m2, v, G);                   \
    print_hash("adam_update", NAME, G, sizeof G);                                       \
    nnbp_scale_##SUFFIX(M * K, (REAL)0.999, G);                                         \
    print_hash("scale", NAME, G, sizeof G);                                             \
    {   /* dropout: units 2..12 of 13 (a block, as a team's member draws), then Y S */ \
        REAL S[N * M], YS[N * M];                                                       \
        memset(S, 0, sizeof S);                                                         \
        memset(YS, 0, sizeof YS);                                                       \
        nnbp_dropout_mask_##SUFFIX(N, M - 2, M, nnbp_dropout_key(7, 3, 1), 2,           \
                                   (uint64_t)(0.3 * 9007199254740992.0), (REAL)(1 / 0.7), \
                                   S + 2);                                              \
        print_hash("dropout_mask", NAME, S, sizeof S);                                  \
        nnbp_dropout_apply_##SUFFIX(N, M - 2, M, S + 2, Y + 2, YS + 2);                 \
        print_hash("dropout_apply", NAME, YS, sizeof YS);                               \
    }                                                                                   \
    for (size_t i = 0; i < M; i++) d[i] = D[i];                                         \
    {                                                                                   \
        struct nnbp_rule adam = {1, 0.001, 0.0, 0.9, 0.999, 1e-8, 0};                   \
        REAL x1[K], z1[M], s1[M * K], s2[M * K], Wk[M * K];                             \
        memcpy(Wk, W, sizeof W);                                                        \
        memcpy(x1, X, sizeof x1);                                                       \
        memset(s1, 0, sizeof s1);                                                       \
        memset(s2, 0, sizeof s2);                                                       \
        results[2] = nnbp_example_step_##SUFFIX(M, K, d, x1, (REAL)0.001, &adam, Wk,     \
                                                s1, s2, dx, X + K, z1);                 \
        print_hash("example_step", NAME, Wk, sizeof Wk);                                \
        print_hash("example_step", NAME, dx, sizeof dx);                                \
        print_hash("example_step", NAME, z1, sizeof z1);                                \
        print_hash("example_step", NAME, results + 2, sizeof results[2]);               \
    }                                                                                   \
    {   /* sgd with momentum and decoupled weight decay: the decayed rule */            \
        struct nnbp_rule decayed = {0, 0.01, 0.9, 0.0, 0.0, 0.0, 1, 0.001};             \
        REAL z1[M], s1[M * K], Wk[M * K];                                               \
        memcpy(Wk, W, sizeof W);                                                        \
        memset(s1, 0, sizeof s1);                                                       \
        nnbp_example_step_##SUFFIX(M, K, d, X, (REAL)0.001, &decayed, Wk, s1, NULL,     \
                                   dx, X + K, z1);                                      \
        print_hash("decayed_step", NAME, Wk, sizeof Wk);                                \
        print_hash("decayed_step", NAME, s1, sizeof s1);                                \
    }                                                                                   \
}

DEFINE_FINGERPRINT(float, f32, "float")
DEFINE_FINGERPRINT(double, f64, "double")

int main(int argc, char **argv)
{
    int requested = argc > 1 ? atoi(argv[1]) : NNBP_ISA_BEST;
    int isa = nnbp_select_isa(requested);
    if (isa != requested && requested != NNBP_ISA_BEST) {
        fprintf(stderr, "instruction set %d unavailable (running %d)\n", requested, isa);
        return 2;
    }
    fingerprint_f32();
    fingerprint_f64();
    return 0;
}
