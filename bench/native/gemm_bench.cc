// gemm_bench.cc: GFLOP/s of the SGEMM paths on the shapes an LSTM layer uses, plus the machine's
// single-core FMA peak for the active ISA (GATED_ISA=avx2 picks AVX2 on an AVX-512 machine). Median of >= 20
// runs. Built with the native tests:
//   cmake -S . -B build-cmake -DCMAKE_BUILD_TYPE=Release && cmake --build build-cmake
//   build-cmake/gemm_bench [runs]
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "dispatch.h"
#include "gemm.h"
#include "pool.h"

using namespace gated;

// The build machine is shared (load from other jobs): 1-thread timings use this thread's CPU time,
// which a descheduled thread does not accumulate; 2-thread timings must use the wall clock.
static bool g_cpu_clock = false;
static double now() {
  if (g_cpu_clock) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static double g_best = 0;
static double median_seconds(const std::function<void()>& f, int runs) {
  f();  // warm up (packing buffers, pool threads, caches)
  std::vector<double> t;
  for (int r = 0; r < runs; r++) {
    double t0 = now();
    f();
    t.push_back(now() - t0);
  }
  std::sort(t.begin(), t.end());
  g_best = t[0];
  return t[t.size() / 2];
}

// 12 independent FMA chains (latency 4 x 2 pipes needs >= 8), each chain through the addend as in
// the GEMM micro-kernel (acc = a * b + acc): flop/s of one core at full tilt.
__attribute__((target("avx2,fma"))) static double fma_peak_avx2() {
  const long iters = 50000000;
  __m256 acc[12];
  for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
  __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  double t0 = now();
  for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(a, b, acc[i]);
  }
  double dt = now() - t0;
  float s = 0;
  for (int i = 0; i < 12; i++) s += _mm256_cvtss_f32(acc[i]);
  if (s == 12345.0f) printf(" ");
  return iters * 12.0 * 16.0 / dt;
}
__attribute__((target("avx512f"))) static double fma_peak_avx512() {
  const long iters = 50000000;
  __m512 acc[12];
  for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps((float)i);
  __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  double t0 = now();
  for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(a, b, acc[i]);
  }
  double dt = now() - t0;
  float s = 0;
  for (int i = 0; i < 12; i++) s += _mm512_reduce_add_ps(acc[i]);
  if (s == 12345.0f) printf(" ");
  return iters * 12.0 * 32.0 / dt;
}
static double fma_peak() {
  return std::string(kernels().isa) == "avx512" ? fma_peak_avx512() : fma_peak_avx2();
}

int main(int argc, char** argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 25;
  printf("isa %s, hardware threads %d\n", kernels().isa, get_threads());
  g_cpu_clock = true;
  double peak = fma_peak();
  for (int i = 0; i < 4; i++) {
    double p = fma_peak();
    if (p > peak) peak = p;
  }
  printf("single-core %s FMA peak: %.1f GFLOP/s\n", kernels().isa, peak * 1e-9);
  auto fill = [](std::vector<float>& v) {
    for (size_t i = 0; i < v.size(); i++) v[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
  };
  struct Shape {
    const char* name;
    bool ta, tb, packed;
    int64_t M, N, K;
    int64_t rows = 0;  // pack_b's layout hint (1: interleaved panel runs)
  };
  const Shape shapes[] = {
      {"input proj  NT 2048x1024x128", false, true, false, 2048, 1024, 128},
      {"dW          TN 1024x128x2048", true, false, false, 1024, 128, 2048},
      {"dx          NN 2048x128x1024", false, false, false, 2048, 128, 1024},
      {"square      NN 1024x1024x1024", false, false, false, 1024, 1024, 1024},
      {"recur step  packed 64x1024x256", false, true, true, 64, 1024, 256},
      {"recur step  packed 32x1024x256", false, true, true, 32, 1024, 256},
      {"recur step  packed 5x1024x256", false, true, true, 5, 1024, 256},
      {"GEMV        packed 1x1024x256", false, true, true, 1, 1024, 256},
      // One thread's W_hh slice in W3 (B=1, H=256, 2 threads), panels vs interleaved runs.
      {"GEMV        packed 1x512x256", false, true, true, 1, 512, 256},
      {"GEMV        runs   1x512x256", false, true, true, 1, 512, 256, 1},
      // W5v's output layer (5 rows x 8000 classes x H=512, a 16 MB packed weight), and at one row.
      {"output      packed 5x8000x512", false, true, true, 5, 8000, 512},
      {"output      packed 1x8000x512", false, true, true, 1, 8000, 512},
  };
  printf("GFLOP/s, median of %d (best); 1 thread on thread CPU time, 2 threads on wall time\n", runs);
  printf("%-34s %16s %16s %10s\n", "shape (MxNxK)", "1 thread", "2 threads", "1t %peak");
  for (const Shape& s : shapes) {
    std::vector<float> A((s.ta ? s.K : s.M) * (s.ta ? s.M : s.K)), B(s.K * s.N), C(s.M * s.N);
    fill(A);
    fill(B);
    PackedB pb;
    if (s.packed) pack_b(s.tb, s.K, s.N, B.data(), s.tb ? s.K : s.N, &pb, s.rows);
    double gf[2], best[2];
    for (int th = 1; th <= 2; th++) {
      set_threads(th);
      const int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
      // The packed step repeats (one time step each) so the clock resolves it; threads split the
      // columns in whole panels inside one region, as the LSTM forward does.
      const int reps = s.packed ? 200 : 1;
      std::function<void()> f;
      if (s.packed)
        f = [&] {
          parallel(th, [&](const Team& t) {
            const int64_t w = gemm_panel_width(), np = (s.N + w - 1) / w;
            int64_t b, e;
            split_range(np, 1, t.tid, t.size, &b, &e);
            for (int r = 0; r < reps; r++) {
              sgemm_packed(s.M, b * w, std::min(e * w, s.N), A.data(), lda, pb, C.data(), s.N, false);
              t.barrier();
            }
          });
        };
      else
        f = [&] { sgemm(s.ta, s.tb, s.M, s.N, s.K, A.data(), lda, B.data(), ldb, C.data(), s.N, false); };
      g_cpu_clock = th == 1;
      double sec = median_seconds(f, runs);
      gf[th - 1] = 2.0 * s.M * s.N * s.K * reps / sec * 1e-9;
      best[th - 1] = 2.0 * s.M * s.N * s.K * reps / g_best * 1e-9;
    }
    printf("%-34s %7.1f (%6.1f) %7.1f (%6.1f) %9.0f%%\n", s.name, gf[0], best[0], gf[1], best[1],
           100.0 * gf[0] / (peak * 1e-9));
  }
  return 0;
}
