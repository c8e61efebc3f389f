/* Instantiates csrc/kernels_impl.h for float and double. */
#include <math.h>
#include "nnbp_kernels.h"

#define REAL float
#define SUFFIX f32
#define EXP expf
#define LOG logf
#define LOG1P log1pf
#define TANH tanhf
#include "kernels_impl.h"
#undef REAL
#undef SUFFIX
#undef EXP
#undef LOG
#undef LOG1P
#undef TANH

#define REAL double
#define SUFFIX f64
#define EXP exp
#define LOG log
#define LOG1P log1p
#define TANH tanh
#include "kernels_impl.h"
