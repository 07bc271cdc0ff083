// nn.cc: linear and embedding kernels (shapes and contracts: nn.h).
#include "nn.h"

#include <math.h>

#include <cstring>

#include "gemm.h"

namespace gated {

// ---- linear ----

void linear_forward(const float* x, const float* W, const float* b, int64_t N, int64_t in, int64_t out,
                    float* y) {
  if (N <= 0 || out <= 0) return;
  // y = b broadcast over rows, then y += x W^T (W stored [out, in]: the transposed-B product).
  if (b) {
    for (int64_t n = 0; n < N; n++) std::memcpy(y + n * out, b, sizeof(float) * (size_t)out);
  }
  sgemm(false, true, N, out, in, x, in, W, in, y, out, b != nullptr);
}

void linear_backward(const float* x, const float* W, const float* dy, int64_t N, int64_t in, int64_t out,
                     float* dx, float* dW, float* db, bool accumulate) {
  // dx [N, in] = dy [N, out] W [out, in]
  if (dx && N > 0 && in > 0) sgemm(false, false, N, in, out, dy, out, W, in, dx, in, false);
  // dW [out, in] (+)= dy^T [out, N] x [N, in]
  if (out > 0 && in > 0) sgemm(true, false, out, in, N, dy, out, x, in, dW, in, accumulate);
  if (db) {
    if (!accumulate) std::memset(db, 0, sizeof(float) * (size_t)out);
    for (int64_t n = 0; n < N; n++) {
      const float* row = dy + n * out;
      for (int64_t j = 0; j < out; j++) db[j] += row[j];
    }
  }
}

// ---- embedding ----

void embedding_forward(const int32_t* ids, const float* weight, int64_t N, int64_t V, int64_t E,
                       int64_t padding_index, float* out) {
  (void)V;  // ids were checked against V by the caller
  for (int64_t n = 0; n < N; n++) {
    float* dst = out + n * E;
    if ((int64_t)ids[n] == padding_index) {
      std::memset(dst, 0, sizeof(float) * (size_t)E);
    } else {
      std::memcpy(dst, weight + (int64_t)ids[n] * E, sizeof(float) * (size_t)E);
    }
  }
}

void embedding_backward(const int32_t* ids, const float* dy, int64_t N, int64_t V, int64_t E,
                        int64_t padding_index, float* dWeight, bool accumulate) {
  if (!accumulate) std::memset(dWeight, 0, sizeof(float) * (size_t)(V * E));
  for (int64_t n = 0; n < N; n++) {
    if ((int64_t)ids[n] == padding_index) continue;
    float* dst = dWeight + (int64_t)ids[n] * E;
    const float* src = dy + n * E;
    for (int64_t e = 0; e < E; e++) dst[e] += src[e];
  }
}

void log_softmax_row(float* l, int64_t V, void (*exp_fn)(const float*, float*, int64_t)) {
  float m = -INFINITY;
  for (int64_t v = 0; v < V; v++) m = l[v] > m ? l[v] : m;
  float part[16] = {0};
  constexpr int64_t kChunk = 1024;  // a multiple of 16: lane v % 16 stays lane v % 16
  float e[kChunk];
  for (int64_t v0 = 0; v0 < V; v0 += kChunk) {
    const int64_t n = V - v0 < kChunk ? V - v0 : kChunk;
    for (int64_t i = 0; i < n; i++) l[v0 + i] -= m;
    exp_fn(l + v0, e, n);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
      for (int j = 0; j < 16; j++) part[j] += e[i + j];
    for (int j = 0; i < n; i++, j++) part[j] += e[i];
  }
  double s = 0.0;
  for (int j = 0; j < 16; j++) s += (double)part[j];
  const float ls = (float)log(s);
  for (int64_t v = 0; v < V; v++) l[v] -= ls;
}

}  // namespace gated
