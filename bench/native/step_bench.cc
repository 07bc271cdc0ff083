// step_bench.cc: the decode step's kernel alone (native/step.h, no Node): W5 (LSTM B=5 D=256 H=512)
// and W5v (W5 + dense 512->8000 + log-softmax + top-5), median of 2000 steps for 1 and 2 threads,
// with the effective weight bandwidth. 1-thread timings use this thread's CPU time (the machine is
// shared), 2-thread timings the wall clock.
//   cmake -S . -B build-cmake -DCMAKE_BUILD_TYPE=Release && cmake --build build-cmake
//   build-cmake/step_bench
#include <stdio.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "dispatch.h"
#include "pool.h"
#include "step.h"

using namespace gated;

static bool g_cpu_clock = false;
static double now_us() {
  if (g_cpu_clock) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
  }
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int main() {
  const int64_t B = 5, D = 256, H = 512, K = 5;
  unsigned seed = 1;
  auto fill = [&](int64_t n, float sc) {
    std::vector<float> v((size_t)n);
    for (auto& e : v) e = sc * ((seed = seed * 1664525u + 1013904223u) / 4294967296.0f - 0.5f);
    return v;
  };
  printf("isa %s\n", kernels().isa);
  for (int64_t V : {(int64_t)0, (int64_t)8000}) {
    std::vector<float> w_ih = fill(4 * H * D, 0.1f), w_hh = fill(4 * H * H, 0.1f), b = fill(4 * H, 0.1f);
    std::vector<float> w_out = fill(V * H, 0.1f), b_out = fill(V, 0.1f);
    std::vector<float> x = fill(B * D, 1), h = fill(B * H, 1), c = fill(B * H, 1), h2(B * H), c2(B * H);
    std::vector<float> tv(B * K);
    std::vector<int32_t> ti(B * K);
    StepWeights w{StepCell::Lstm,
                  D,
                  H,
                  V,
                  w_ih.data(),
                  w_hh.data(),
                  b.data(),
                  b.data(),
                  nullptr,
                  V ? w_out.data() : nullptr,
                  V ? b_out.data() : nullptr};
    StepArgs a{B,         B,       x.data(),  h.data(), c.data(), nullptr,   h2.data(),
               c2.data(), nullptr, V ? K : 0, 1,        nullptr,  tv.data(), ti.data()};
    StepCache cache;
    const double bytes = 4.0 * (4 * H * (D + H) + V * H);
    for (int th : {1, 2}) {
      set_threads(th);
      g_cpu_clock = th == 1;
      for (int i = 0; i < 50; i++) step_forward(cache, w, 1, a);
      std::vector<double> t;
      for (int i = 0; i < 2000; i++) {
        double t0 = now_us();
        step_forward(cache, w, 1, a);
        t.push_back(now_us() - t0);
      }
      std::sort(t.begin(), t.end());
      const double us = t[t.size() / 2];
      printf("%-4s threads %d: %7.1f us (best %6.1f), weights %.1f GB/s\n", V ? "W5v" : "W5", th, us, t[0],
             bytes / us / 1e3);
    }
  }
  return 0;
}
