// peak.cc: the machine's FMA peak for each vector instruction set, on 1 and on 2 threads: 12
// independent FMA chains per thread (more than latency 4 x 2 pipes), so the loop is bound by FMA
// issue alone. Prints one line per (isa, threads) and, last, a JSON line for bench/run.ts:
//   PEAK {"avx2":{"1":113.2,"2":226.0},"avx512":{"1":...,"2":...}}
// Build and run:
//   g++ -O2 -pthread -o build/peak bench/native/peak.cc && build/peak
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

constexpr long kIters = 100000000;
constexpr int kChains = 12;

__attribute__((target("avx2,fma"))) static float run_avx2(long iters) {
  __m256 a[kChains];
  for (int i = 0; i < kChains; i++) a[i] = _mm256_set1_ps(i * 0.1f);
  const __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
  for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
  }
  __m256 s = a[0];
  for (int i = 1; i < kChains; i++) s = _mm256_add_ps(s, a[i]);
  return _mm256_cvtss_f32(s);
}

__attribute__((target("avx512f"))) static float run_avx512(long iters) {
  __m512 a[kChains];
  for (int i = 0; i < kChains; i++) a[i] = _mm512_set1_ps(i * 0.1f);
  const __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
  for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
  }
  __m512 s = a[0];
  for (int i = 1; i < kChains; i++) s = _mm512_add_ps(s, a[i]);
  return _mm512_reduce_add_ps(s);
}

// GFLOP/s of `threads` threads each running fn(kIters) (best of 3 runs).
static double measure(float (*fn)(long), int lanes, int threads) {
  double best = 0;
  for (int r = 0; r < 3; r++) {
    std::vector<std::thread> ts;
    std::vector<float> sink(threads);
    auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; t++) ts.emplace_back([&, t] { sink[t] = fn(kIters); });
    for (auto& t : ts) t.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (sink[0] == 12345.0f) std::printf(" ");
    best = std::max(best, threads * (double)kIters * kChains * lanes * 2 / s / 1e9);
  }
  return best;
}

int main() {
  __builtin_cpu_init();
  struct Isa {
    const char* name;
    bool ok;
    float (*fn)(long);
    int lanes;
  } isas[] = {{"avx2", __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"), run_avx2, 8},
              {"avx512", (bool)__builtin_cpu_supports("avx512f"), run_avx512, 16}};
  std::string json = "{";
  for (const Isa& isa : isas) {
    if (!isa.ok) continue;
    std::string entry;
    for (int threads = 1; threads <= 2; threads++) {
      const double g = measure(isa.fn, isa.lanes, threads);
      std::printf("%-6s %d thread%s: %.1f GFLOP/s\n", isa.name, threads, threads > 1 ? "s" : "", g);
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s\"%d\":%.1f", threads > 1 ? "," : "", threads, g);
      entry += buf;
    }
    json += std::string(json.size() > 1 ? "," : "") + "\"" + isa.name + "\":{" + entry + "}";
  }
  std::printf("PEAK %s}\n", json.c_str());
  return 0;
}
