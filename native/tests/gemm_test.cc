// gemm_test.cc: sgemm, sgemm_serial and sgemm_packed against a double-precision reference (and
// sgemm_reference), every transpose combination, accumulate on/off, odd sizes with padded leading
// dimensions, K across several KC blocks, for each ISA this machine runs; plus the determinism
// contract (gemm.h): bit-identical results for 1, 2, 3 threads, for any column split of sgemm_packed,
// between sgemm and sgemm_packed, for a row multiplied alone or among others (batch invariance), and
// between the vector ISAs that fuse (AVX2, AVX-512), and between PackedB's two layouts; and the
// transposing packer against a plain copy, and block packing against a gathered copy.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cmath>
#include <limits>
#include <vector>

#include "check.h"
#include "isas.h"
#include "dispatch.h"
#include "gemm.h"
#include "pool.h"

using namespace gated;

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float frand() {  // uniform in [-1, 1)
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (float)((g_rng >> 40) * (1.0 / (1 << 24))) * 2.0f - 1.0f;
}
static int64_t irand(int64_t lo, int64_t hi) {
  return lo + (int64_t)((frand() + 1.0f) * 0.5f * (hi - lo + 1)) % (hi - lo + 1);
}

struct Problem {
  bool ta, tb;
  int64_t M, N, K, lda, ldb, ldc;
  std::vector<float> A, B, C0;  // C0: C before the call (random when accumulating, NaN otherwise)
  bool acc;
};

static Problem make(bool ta, bool tb, int64_t M, int64_t N, int64_t K, bool acc) {
  Problem p;
  p.ta = ta;
  p.tb = tb;
  p.M = M;
  p.N = N;
  p.K = K;
  p.acc = acc;
  p.lda = (ta ? M : K) + 3;
  p.ldb = (tb ? K : N) + 2;
  p.ldc = N + 5;
  p.A.resize((ta ? K : M) * p.lda);
  p.B.resize((tb ? N : K) * p.ldb);
  p.C0.resize(M * p.ldc);
  for (float& x : p.A) x = frand();
  for (float& x : p.B) x = frand();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < p.ldc; n++) p.C0[m * p.ldc + n] = n >= N ? 1234.5f : (acc ? frand() : nan);
  return p;
}

static float a_at(const Problem& p, int64_t m, int64_t k) {
  return p.ta ? p.A[k * p.lda + m] : p.A[m * p.lda + k];
}
static float b_at(const Problem& p, int64_t k, int64_t n) {
  return p.tb ? p.B[n * p.ldb + k] : p.B[k * p.ldb + n];
}

// |c - ref| <= 1e-5 * (sum_k |a b| + |c0|) + 1e-6, with ref in double; padding columns untouched.
static bool check_result(const Problem& p, const std::vector<float>& C, const char* what) {
  double worst = 0;
  bool ok = true;
  for (int64_t m = 0; m < p.M; m++) {
    for (int64_t n = 0; n < p.N; n++) {
      double ref = p.acc ? p.C0[m * p.ldc + n] : 0.0, mag = p.acc ? std::fabs(ref) : 0.0;
      for (int64_t k = 0; k < p.K; k++) {
        double t = (double)a_at(p, m, k) * b_at(p, k, n);
        ref += t;
        mag += std::fabs(t);
      }
      double err = std::fabs(C[m * p.ldc + n] - ref), tol = 1e-5 * mag + 1e-6;
      if (!(err <= tol)) ok = false;
      if (err / (mag + 1e-30) > worst) worst = err / (mag + 1e-30);
    }
    for (int64_t n = p.N; n < p.ldc; n++)
      if (C[m * p.ldc + n] != 1234.5f) ok = false;
  }
  CHECK(ok, "%s ta=%d tb=%d M=%lld N=%lld K=%lld acc=%d: wrong (worst rel %.3g)", what, p.ta, p.tb,
        (long long)p.M, (long long)p.N, (long long)p.K, p.acc, worst);
  return ok;
}

static void run_problem(const Problem& p, const char* isa) {
  // Reference path.
  std::vector<float> cref = p.C0;
  sgemm_reference(p.ta, p.tb, p.M, p.N, p.K, p.A.data(), p.lda, p.B.data(), p.ldb, cref.data(), p.ldc, p.acc);
  check_result(p, cref, "sgemm_reference");

  // Serial.
  std::vector<float> cs = p.C0;
  sgemm_serial(p.ta, p.tb, p.M, p.N, p.K, p.A.data(), p.lda, p.B.data(), p.ldb, cs.data(), p.ldc, p.acc);
  check_result(p, cs, isa);

  // Threaded with 1, 2, 3 threads: bit-identical to each other and to the serial call.
  for (int th = 1; th <= 3; th++) {
    set_threads(th);
    std::vector<float> ct = p.C0;
    sgemm(p.ta, p.tb, p.M, p.N, p.K, p.A.data(), p.lda, p.B.data(), p.ldb, ct.data(), p.ldc, p.acc);
    CHECK(memcmp(ct.data(), cs.data(), ct.size() * sizeof(float)) == 0,
          "%s sgemm threads=%d not bit-identical to serial (M=%lld N=%lld K=%lld ta=%d tb=%d)", isa, th,
          (long long)p.M, (long long)p.N, (long long)p.K, p.ta, p.tb);
  }
  set_threads(2);

  // Packed B (A not transposed in sgemm_packed's contract), in each layout (rows hint 0: panels
  // one after another; 1 and M: interleaved when few rows, gemm.h): full call, then column splits.
  for (int64_t rows : {(int64_t)0, (int64_t)1, p.M}) {
    if (p.ta) break;
    PackedB pb;
    pack_b(p.tb, p.K, p.N, p.B.data(), p.ldb, &pb, rows);
    const int64_t w = gemm_panel_width();
    CHECK(pb.panel == w, "panel width");
    CHECK((pb.group > 0) == (rows >= 1 && rows <= kernels().gemm.np_rows && p.N > w),
          "%s interleaving for rows=%lld", isa, (long long)rows);
    CHECK(pb.data.empty() || reinterpret_cast<uintptr_t>(pb.data.data()) % 64 == 0,
          "packed B starts on a cache line");
    std::vector<float> cp = p.C0;
    sgemm_packed(p.M, 0, p.N, p.A.data(), p.lda, pb, cp.data(), p.ldc, p.acc);
    check_result(p, cp, "sgemm_packed");
    // Every path shares the one reduction order (gemm.h).
    CHECK(memcmp(cp.data(), cs.data(), cp.size() * sizeof(float)) == 0,
          "%s sgemm_packed (rows hint %lld) not bit-identical to sgemm (M=%lld N=%lld K=%lld)", isa,
          (long long)rows, (long long)p.M, (long long)p.N, (long long)p.K);
    const int64_t np = (p.N + w - 1) / w;
    for (int parts = 2; parts <= 4; parts++) {
      std::vector<float> cq = p.C0;
      for (int t = 0; t < parts; t++) {
        int64_t b, e;
        split_range(np, 1, t, parts, &b, &e);
        sgemm_packed(p.M, b * w, e * w < p.N ? e * w : p.N, p.A.data(), p.lda, pb, cq.data(), p.ldc, p.acc);
      }
      CHECK(memcmp(cq.data(), cp.data(), cq.size() * sizeof(float)) == 0,
            "%s sgemm_packed (rows hint %lld) split in %d not bit-identical (M=%lld N=%lld K=%lld)", isa,
            (long long)rows, parts, (long long)p.M, (long long)p.N, (long long)p.K);
    }
  }
}

// Batch invariance: each row of C = A op(B) computed alone (M = 1) gives the same bits as in the whole
// product, for sgemm (threaded), sgemm_serial and sgemm_packed; M runs past the small-M limit and
// several MR chunks so that rows fall in every tile shape.
static void run_rows_alone(bool tb, int64_t M, int64_t N, int64_t K, bool acc, const char* isa) {
  Problem p = make(false, tb, M, N, K, acc);
  std::vector<float> whole = p.C0;
  sgemm(false, tb, M, N, K, p.A.data(), p.lda, p.B.data(), p.ldb, whole.data(), p.ldc, acc);
  check_result(p, whole, "sgemm rows");
  PackedB pb, pb1;  // both layouts
  pack_b(tb, K, N, p.B.data(), p.ldb, &pb);
  pack_b(tb, K, N, p.B.data(), p.ldb, &pb1, 1);
  for (int64_t m = 0; m < M; m++) {
    const float* a = p.A.data() + m * p.lda;
    const std::vector<float> want(whole.begin() + m * p.ldc, whole.begin() + (m + 1) * p.ldc);
    std::vector<float> c0(p.C0.begin() + m * p.ldc, p.C0.begin() + (m + 1) * p.ldc), c1 = c0, c2 = c0,
                                                                                     c3 = c0;
    sgemm(false, tb, 1, N, K, a, p.lda, p.B.data(), p.ldb, c0.data(), p.ldc, acc);
    sgemm_serial(false, tb, 1, N, K, a, p.lda, p.B.data(), p.ldb, c1.data(), p.ldc, acc);
    sgemm_packed(1, 0, N, a, p.lda, pb, c2.data(), p.ldc, acc);
    sgemm_packed(1, 0, N, a, p.lda, pb1, c3.data(), p.ldc, acc);
    CHECK(c0 == want && c1 == want && c2 == want && c3 == want,
          "%s row %lld alone not bit-identical to the whole product (tb=%d M=%lld N=%lld K=%lld acc=%d)", isa,
          (long long)m, tb, (long long)M, (long long)N, (long long)K, acc);
  }
}

// pack_bt (the transposing packer of the active ISA) against a plain copy: every element of every
// panel, zero padding included, for widths and depths that leave partial vector groups and k tails,
// with panels one after another (row stride nr) and interleaved (row stride 3 nr, panel stride nr).
static void run_pack_bt(int64_t kc, int64_t nc, const char* isa) {
  const GemmKernels& g = kernels().gemm;
  const int64_t ldw = kc + 3, nr = g.nr, np = (nc + nr - 1) / nr;
  std::vector<float> w(nc * ldw);
  for (float& x : w) x = frand();
  for (int interleaved = 0; interleaved < 2; interleaved++) {
    // Interleaved: each panel's rows are 3 nr apart, so np panels fit only when np <= 3.
    if (interleaved && np > 3) continue;
    const int64_t ps = interleaved ? nr : kc * nr + 5, rs = interleaved ? 3 * nr : nr;
    const int64_t size = interleaved ? kc * rs : np * ps;
    std::vector<float> got(size, 1234.5f), want(size, 1234.5f);
    for (int64_t p = 0; p < np; p++)
      for (int64_t k = 0; k < kc; k++)
        for (int64_t j = 0; j < nr; j++) {
          const int64_t n = p * nr + j;
          want[p * ps + k * rs + j] = n < nc ? w[n * ldw + k] : 0.0f;
        }
    g.pack_bt(kc, nc, w.data(), ldw, got.data(), ps, rs);
    CHECK(got == want, "%s pack_bt kc=%lld nc=%lld rs=%lld (and nothing else written)", isa, (long long)kc,
          (long long)nc, (long long)rs);
  }
}

// pack_bt_blocks: W's row blocks packed where they lie give the bits of the same rows gathered into
// one matrix and packed with pack_b, in both layouts, for 1 row and several.
static void run_pack_blocks(int64_t blocks, int64_t w, int64_t K, const char* isa) {
  const int64_t ldw = K + 7, N = blocks * w;
  std::vector<float> W(blocks * (w + 3) * ldw), gathered(N * K), A(6 * K);
  for (float& x : W) x = frand();
  for (float& x : A) x = frand();
  std::vector<const float*> block(blocks);
  for (int64_t i = 0; i < blocks; i++) {
    block[i] = W.data() + i * (w + 3) * ldw;  // blocks 3 rows apart
    for (int64_t r = 0; r < w; r++)
      for (int64_t k = 0; k < K; k++) gathered[(i * w + r) * K + k] = block[i][r * ldw + k];
  }
  for (int64_t rows : {0, 1, 3}) {
    PackedB a, b;
    pack_bt_blocks(K, blocks, block.data(), w, ldw, &a, rows);
    pack_b(true, K, N, gathered.data(), K, &b, rows);
    std::vector<float> ca(6 * N), cb(6 * N);
    sgemm_packed(6, 0, N, A.data(), K, a, ca.data(), N, false);
    sgemm_packed(6, 0, N, A.data(), K, b, cb.data(), N, false);
    CHECK(a.group == b.group && ca == cb, "%s pack_bt_blocks blocks=%lld w=%lld K=%lld rows=%lld", isa,
          (long long)blocks, (long long)w, (long long)K, (long long)rows);
  }
}

int main() {
  const int64_t odd[] = {1, 7, 9, 33, 257};
  int tested = 0;
  for (const std::string& name : test_isas()) {
    const char* isa = name.c_str();
    CHECK(set_isa(isa), "set_isa(%s)", isa);
    tested++;
    int before = check_failures();
    int count = 0;
    for (int tr = 0; tr < 4; tr++) {
      const bool ta = tr & 1, tb = tr & 2;
      for (int acc = 0; acc < 2; acc++) {
        // Every odd size in each dimension against a moderate other two (keeps the test fast).
        for (int64_t s : odd) {
          run_problem(make(ta, tb, s, 33, 9, acc), isa);
          run_problem(make(ta, tb, 9, s, 33, acc), isa);
          run_problem(make(ta, tb, 7, 33, s, acc), isa);
          count += 3;
        }
        run_problem(make(ta, tb, 1, 1, 1, acc), isa);
        run_problem(make(ta, tb, 257, 257, 33, acc), isa);
        run_problem(make(ta, tb, 33, 100, 600, acc), isa);   // K over several KC blocks
        run_problem(make(ta, tb, 150, 1100, 20, acc), isa);  // M over MC, N over NC
        run_problem(make(ta, tb, 600, 20, 101, acc), isa);   // few panels: threads split M
        run_problem(make(ta, tb, 2, 300, 257, acc), isa);    // 2 and 3 rows: interleaved runs on AVX-512
        run_problem(make(ta, tb, 3, 333, 40, acc), isa);
        count += 7;
        for (int r = 0; r < 4; r++) {
          run_problem(make(ta, tb, irand(1, 80), irand(1, 200), irand(1, 300), acc), isa);
          count++;
        }
      }
    }
    for (int tb = 0; tb < 2; tb++)
      for (int64_t M : {2, 5, 7, 13, 19})
        for (int64_t N : {1, 9, 40, 300})
          for (int64_t K : {1, 17, 300})
            for (int acc = 0; acc < 2; acc++) {
              run_rows_alone(tb == 1, M, N, K, acc == 1, isa);
              count++;
            }
    for (int64_t kc : {1, 7, 16, 17, 33, 256})
      for (int64_t nc : {1, 5, 8, 16, 17, 31, 32, 33, 70}) run_pack_bt(kc, nc, isa);
    const int64_t nr = gemm_panel_width();
    for (int64_t blocks : {1, 3, 4})
      for (int64_t w : {nr, 3 * nr, 5 * nr}) run_pack_blocks(blocks, w, 33, isa);
    run_pack_blocks(1, 7, 300, isa);  // one block of any width, K over a KC block
    // K = 0: C = 0 (not accumulating) or unchanged.
    {
      std::vector<float> C(6, std::numeric_limits<float>::quiet_NaN());
      sgemm(false, false, 2, 3, 0, nullptr, 1, nullptr, 3, C.data(), 3, false);
      bool zero = true;
      for (float c : C) zero = zero && c == 0.0f;
      CHECK(zero, "%s K=0 clears C", isa);
    }
    printf("gemm_test %s: %d problems, %s\n", isa, count, check_failures() == before ? "OK" : "FAILED");
  }
  // AVX2 and AVX-512 both fuse every multiply-add in the same order: the same bits.
  if (isa_available("avx2") && isa_available("avx512")) {
    int same = 0;
    for (int tr = 0; tr < 4; tr++)
      for (int64_t s : {1, 7, 33, 257}) {
        Problem p = make(tr & 1, tr & 2, s, 300 - s, 33 + s, s & 1);
        std::vector<float> c[2] = {p.C0, p.C0};
        for (int i = 0; i < 2; i++) {
          set_isa(i ? "avx512" : "avx2");
          sgemm(p.ta, p.tb, p.M, p.N, p.K, p.A.data(), p.lda, p.B.data(), p.ldb, c[i].data(), p.ldc, p.acc);
        }
        CHECK(c[0] == c[1], "avx2 and avx512 differ (ta=%d tb=%d M=%lld)", p.ta, p.tb, (long long)p.M);
        same++;
      }
    printf("gemm_test avx2 vs avx512: %d products bit-identical\n", same);
  }
  set_isa(best_isa());
  CHECK(tested >= 1, "no ISA");
  if (check_failures()) {
    printf("gemm_test: %d failure(s)\n", check_failures());
    return 1;
  }
  printf("gemm_test: OK\n");
  return 0;
}
