// nn.h: the kernels the layers need besides the fused sequence ops: a linear (dense) layer and an
// embedding lookup, each a forward/backward pair of free functions on raw row-major float arrays.
//
// Rows are whatever the caller flattens: a Vector's B rows, or a time-major Sequence's T*B rows.
// Determinism: the products go through sgemm (gemm.h: a fixed reduction order for any thread
// count); bias gradients and the embedding scatter add rows in increasing row order.
#pragma once
#include <stdint.h>

namespace gated {

// y [N, out] = x [N, in] W^T + b.  W [out, in] (PyTorch nn.Linear layout), b [out] or nullptr.
void linear_forward(const float* x, const float* W, const float* b, int64_t N, int64_t in, int64_t out,
                    float* y);

// Gradients of linear_forward from dy [N, out]:
//   dx [N, in] = dy W              (written; skipped when dx is nullptr)
//   dW [out, in] (+)= dy^T x       (accumulate: added to dW; otherwise overwritten)
//   db [out] (+)= column sums of dy, rows in increasing order (skipped when db is nullptr)
void linear_backward(const float* x, const float* W, const float* dy, int64_t N, int64_t in, int64_t out,
                     float* dx, float* dW, float* db, bool accumulate);

// out [N, E] = rows ids[n] of weight [V, E]; rows whose id equals padding_index are zeros
// (padding_index < 0: none). Every id must be in [0, V): the binding checks them.
void embedding_forward(const int32_t* ids, const float* weight, int64_t N, int64_t V, int64_t E,
                       int64_t padding_index, float* out);

// dWeight [V, E] (+)= scatter-add of dy [N, E] into rows ids[n], n in increasing order; the padding
// row gets no gradient. accumulate false: dWeight is zeroed first.
void embedding_backward(const int32_t* ids, const float* dy, int64_t N, int64_t V, int64_t E,
                        int64_t padding_index, float* dWeight, bool accumulate);

// l [V] in place -> its log_softmax: (l - m) - log(s), m = max l, s = sum exp(l - m) summed in 16
// fixed partial sums (the same on every vector ISA) then added in double. exp_fn: kernels().math.exp.
void log_softmax_row(float* l, int64_t V, void (*exp_fn)(const float*, float*, int64_t));

}  // namespace gated
