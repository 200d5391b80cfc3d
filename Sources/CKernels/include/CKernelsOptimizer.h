#ifndef MAMFUSION_CKERNELS_OPTIMIZER_H
#define MAMFUSION_CKERNELS_OPTIMIZER_H
#include <stddef.h>

/// One BertAdam update of n values (MODEL.md §6), fused into one pass over memory:
///   g' = clip · g;  m = b1·m + c1·g';  v = b2·v + c2·g'²;
///   p -= step · ( m / (sqrt(v) + eps) + wd · p ).
/// c1 = 1 − b1 and c2 = 1 − b2 are passed in, computed in double and rounded once, as PyTorch
/// does with Python floats (1 − 0.999f in float is 0.0010000467, 4.7e-5 off).
void mf_bert_adam(float *p, const float *g, float *m, float *v, size_t n,
                  float clip, float step, float wd, float b1, float c1, float b2, float c2, float eps);
#endif
