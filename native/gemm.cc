// STUB: replaced by its owner.
#include "gemm.h"
namespace gated {
void sgemm_reference(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                     const float* B, int64_t ldb, float* C, int64_t ldc, bool acc) {
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      float s = 0;
      for (int64_t k = 0; k < K; k++) s += (ta ? A[k * lda + m] : A[m * lda + k]) * (tb ? B[n * ldb + k] : B[k * ldb + n]);
      C[m * ldc + n] = acc ? C[m * ldc + n] + s : s;
    }
}
void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool acc) { sgemm_reference(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc); }
void sgemm_serial(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool acc) { sgemm_reference(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc); }
void pack_b(bool tb, int64_t K, int64_t N, const float* B, int64_t ldb, PackedB* out) {
  out->K = K; out->N = N; out->panel = 1; out->data.assign(K * N, 0.f);
  for (int64_t k = 0; k < K; k++) for (int64_t n = 0; n < N; n++) out->data[k * N + n] = tb ? B[n * ldb + k] : B[k * ldb + n];
}
void sgemm_packed(int64_t M, int64_t n0, int64_t n1, const float* A, int64_t lda, const PackedB& B, float* C, int64_t ldc, bool acc) {
  for (int64_t m = 0; m < M; m++) for (int64_t n = n0; n < n1; n++) {
    float s = 0; for (int64_t k = 0; k < B.K; k++) s += A[m * lda + k] * B.data[k * B.N + n];
    C[m * ldc + n] = acc ? C[m * ldc + n] + s : s; }
}
int64_t gemm_panel_width() { return 1; }
}  // namespace gated
