// Peak AVX2+FMA throughput of one core: 10 independent FMA chains (more than latency x ports),
// so the loop is bound by FMA issue only. Build and run:
//   g++ -O2 -o /tmp/peak bench/native/peak.cc && /tmp/peak
#include <immintrin.h>
#include <chrono>
#include <cstdio>
__attribute__((target("avx2,fma"))) float run(long iters) {
  __m256 a[10]; for (int i = 0; i < 10; i++) a[i] = _mm256_set1_ps(i * 0.1f);
  __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
  for (long it = 0; it < iters; it++) {
    #pragma GCC unroll 10
    for (int i = 0; i < 10; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
  }
  __m256 s = a[0]; for (int i = 1; i < 10; i++) s = _mm256_add_ps(s, a[i]);
  float o[8]; _mm256_storeu_ps(o, s); return o[0];
}
int main() {
  for (int r = 0; r < 5; r++) {
    long iters = 100000000;
    auto t0 = std::chrono::steady_clock::now(); float x = run(iters); auto t1 = std::chrono::steady_clock::now();
    double s = std::chrono::duration<double>(t1 - t0).count();
    printf("%.1f GFLOP/s single core (x=%g)\n", iters * 10.0 * 16 / s / 1e9, x);
  }
}
