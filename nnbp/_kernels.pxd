# Declarations of the C kernels in csrc/ (see csrc/nnbp_kernels.h).
from libc.stdint cimport int64_t

cdef extern from "nnbp_kernels.h" nogil:
    enum:
        NNBP_IDENTITY
        NNBP_LOGISTIC
        NNBP_TANH
        NNBP_RELU
        NNBP_LEAKY_RELU
        NNBP_SOFTPLUS
    enum:
        NNBP_SQUARED
        NNBP_BINARY
        NNBP_SOFTMAX
        NNBP_POISSON
    enum:
        NNBP_ISA_QUERY
        NNBP_ISA_BEST
        NNBP_ISA_BASELINE
        NNBP_ISA_AVX2
        NNBP_ISA_AVX512

    struct nnbp_rule:
        int adam
        double learning_rate, momentum, beta_1, beta_2, epsilon
        int nesterov

    struct nnbp_csr:
        int64_t *start
        int64_t *end
        const void *indices
        const void *data
        int index64
        size_t n_columns

    int nnbp_csr_allocate(nnbp_csr *X, size_t rows, size_t entries, size_t K, size_t real_size)
    void nnbp_csr_free(nnbp_csr *X)

    int nnbp_select_isa(int requested)
    int nnbp_all_finite_f32(size_t n, const float *x)
    int nnbp_all_finite_f64(size_t n, const double *x)

    void nnbp_bias_activation_f32(int activation, float negative_slope, size_t n, size_t m,
                                  size_t ld, const float *bias, float *Z, float *A)
    void nnbp_bias_activation_f64(int activation, double negative_slope, size_t n, size_t m,
                                  size_t ld, const double *bias, double *Z, double *A)
    void nnbp_activation_backward_f32(int activation, float negative_slope, size_t n, size_t m,
                                      size_t ld, const float *Z, const float *A, float *D,
                                      float *column_sums)
    void nnbp_activation_backward_f64(int activation, double negative_slope, size_t n, size_t m,
                                      size_t ld, const double *Z, const double *A, double *D,
                                      double *column_sums)
    void nnbp_output_activation_f32(int output, size_t n, size_t m, float *Z)
    void nnbp_output_activation_f64(int output, size_t n, size_t m, double *Z)
    double nnbp_output_loss_f32(int output, size_t n, size_t m, const float *Z, const float *Y,
                                const int64_t *labels, const float *sample_weight, double scale,
                                float *D)
    double nnbp_output_loss_f64(int output, size_t n, size_t m, const double *Z, const double *Y,
                                const int64_t *labels, const double *sample_weight, double scale,
                                double *D)
    double nnbp_l2_penalty_f32(size_t M, size_t K, float scale, const float *W, float *G,
                               double *row_sums)
    double nnbp_l2_penalty_f64(size_t M, size_t K, double scale, const double *W, double *G,
                               double *row_sums)
    void nnbp_sgd_update_f32(size_t size, float learning_rate, float momentum, int nesterov,
                             const float *grad, float *velocity, float *params)
    void nnbp_sgd_update_f64(size_t size, double learning_rate, double momentum, int nesterov,
                             const double *grad, double *velocity, double *params)
    void nnbp_adam_update_f32(size_t size, float learning_rate, float beta_1,
                              float one_minus_beta_1, float beta_2, float one_minus_beta_2,
                              float epsilon, const float *grad, float *m, float *v,
                              float *params)
    void nnbp_adam_update_f64(size_t size, double learning_rate, double beta_1,
                              double one_minus_beta_1, double beta_2, double one_minus_beta_2,
                              double epsilon, const double *grad, double *m, double *v,
                              double *params)

    void nnbp_small_xwt_f32(size_t n, size_t M, size_t K, const float *X, size_t ldx,
                            const float *W, size_t ldw, float *Z, size_t ldz)
    void nnbp_small_xwt_f64(size_t n, size_t M, size_t K, const double *X, size_t ldx,
                            const double *W, size_t ldw, double *Z, size_t ldz)
    void nnbp_small_dw_f32(size_t n, size_t M, size_t K, const float *D, size_t ldd,
                           const float *W, size_t ldw, float *dX, size_t ldx)
    void nnbp_small_dw_f64(size_t n, size_t M, size_t K, const double *D, size_t ldd,
                           const double *W, size_t ldw, double *dX, size_t ldx)
    void nnbp_small_dtx_f32(size_t n, size_t M, size_t K, const float *D, size_t ldd,
                            const float *X, size_t ldx, float *dW, size_t ldw)
    void nnbp_small_dtx_f64(size_t n, size_t M, size_t K, const double *D, size_t ldd,
                            const double *X, size_t ldx, double *dW, size_t ldw)
    double nnbp_example_step_f32(size_t M, size_t K, const float *d, const float *x,
                                 float scale, const nnbp_rule *rule, float *W, float *state_1,
                                 float *state_2, float *dx, const float *x_next, float *z_next)
    double nnbp_example_step_f64(size_t M, size_t K, const double *d, const double *x,
                                 double scale, const nnbp_rule *rule, double *W,
                                 double *state_1, double *state_2, double *dx,
                                 const double *x_next, double *z_next)

    void nnbp_csr_columns_f32(nnbp_csr *X, size_t n, size_t K)
    void nnbp_csr_columns_f64(nnbp_csr *X, size_t n, size_t K)
    void nnbp_csr_xwt_f32(const nnbp_csr *X, size_t n, size_t M, size_t K, const float *W,
                          float *Z, size_t ldz)
    void nnbp_csr_xwt_f64(const nnbp_csr *X, size_t n, size_t M, size_t K, const double *W,
                          double *Z, size_t ldz)
    void nnbp_csr_dtx_f32(const nnbp_csr *X, size_t n, size_t M, size_t K, const float *D,
                          size_t ldd, float *dW, int compact)
    void nnbp_csr_dtx_f64(const nnbp_csr *X, size_t n, size_t M, size_t K, const double *D,
                          size_t ldd, double *dW, int compact)
    void nnbp_csr_column_sgd_f32(const nnbp_csr *X, size_t M, size_t K, float learning_rate,
                                 const float *dW, float *W, const nnbp_csr *next,
                                 size_t n_next, float *Z_next)
    void nnbp_csr_column_sgd_f64(const nnbp_csr *X, size_t M, size_t K, double learning_rate,
                                 const double *dW, double *W, const nnbp_csr *next,
                                 size_t n_next, double *Z_next)

cdef extern from "vecmath.h" nogil:
    float nnbp_exp_f32(float x)
    float nnbp_tanh_f32(float x)
    float nnbp_log1p_f32(float t)
    double nnbp_exp_f64(double x)
    double nnbp_tanh_f64(double x)
    double nnbp_log1p_f64(double t)
