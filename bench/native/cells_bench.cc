// cells_bench.cc: LSTM whole-sequence timings (W1: B=32 T=64 D=128 H=256 forward + backward;
// W3 / W4: B=1 / B=64 inference), medians of 20 runs for 1 and 2 threads, plus the forward phases alone.
//   cmake -S . -B build-cmake -DCMAKE_BUILD_TYPE=Release && cmake --build build-cmake
//   build-cmake/cells_bench
#include <stdio.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "cells.h"
#include "dispatch.h"
#include "gemm.h"
#include "pool.h"

using namespace gated;

// The machine is shared: 1-thread timings use this thread's CPU time (a descheduled thread does not
// accumulate it); 2-thread timings must use the wall clock.
static bool g_cpu_clock = false;
static double now_ms() {
  if (g_cpu_clock) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
template <class F>
static double median_ms(int runs, F f) {
  std::vector<double> t;
  f();  // warm-up
  for (int r = 0; r < runs; r++) {
    double t0 = now_ms();
    f();
    t.push_back(now_ms() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Lstm {
  SeqShape s;
  std::vector<float> x, w_ih, w_hh, b_ih, b_hh, y, h_n, c_n, cache, dy, dx, dh0, dc0, dw_ih, dw_hh, db_ih,
      db_hh;
  explicit Lstm(SeqShape sh) : s(sh) {
    const int64_t G = 4, TB = s.T * s.B;
    unsigned seed = 1;
    auto fill = [&](std::vector<float>& v, int64_t n, float sc) {
      v.resize(n);
      for (auto& e : v) e = sc * ((seed = seed * 1664525u + 1013904223u) / 4294967296.0f - 0.5f);
    };
    fill(x, TB * s.D, 2);
    fill(w_ih, G * s.H * s.D, 0.1f);
    fill(w_hh, G * s.H * s.H, 0.1f);
    fill(b_ih, G * s.H, 0.2f);
    fill(b_hh, G * s.H, 0.2f);
    fill(dy, TB * s.H, 1);
    y.resize(TB * s.H);
    h_n.resize(s.B * s.H);
    c_n.resize(s.B * s.H);
    cache.resize(LstmCacheView<>::kWidth * s.T * s.B * s.H);
    dx.resize(TB * s.D);
    dh0.resize(s.B * s.H);
    dc0.resize(s.B * s.H);
    dw_ih.resize(G * s.H * s.D);
    dw_hh.resize(G * s.H * s.H);
    db_ih.resize(G * s.H);
    db_hh.resize(G * s.H);
  }
  SeqInputs in() const {
    return SeqInputs{s, x.data(), w_ih.data(), w_hh.data(), b_ih.data(), b_hh.data(), nullptr, false};
  }
  void forward(bool keep = true) {
    LstmForwardArgs a{in(),     nullptr,    nullptr,    nullptr,
                      y.data(), h_n.data(), c_n.data(), keep ? cache.data() : nullptr};
    lstm_forward(a);
  }
  void backward() {
    LstmBackwardArgs a{
        in(),
        nullptr,
        cache.data(),
        dy.data(),
        nullptr,
        nullptr,
        SeqGrads{dx.data(), dh0.data(), dw_ih.data(), dw_hh.data(), db_ih.data(), db_hh.data()},
        dc0.data(),
        nullptr};
    lstm_backward(a);
  }
};

int main() {
  printf("isa %s, panel %lld\n", kernels().isa, (long long)gemm_panel_width());
  for (int th : {1, 2}) {
    set_threads(th);
    g_cpu_clock = th == 1;
    Lstm w1({64, 32, 128, 256});
    double f = median_ms(20, [&] { w1.forward(); });
    double b = median_ms(20, [&] { w1.backward(); });
    double fb = median_ms(20, [&] {
      w1.forward();
      w1.backward();
    });
    // Phases: the input projection GEMM alone and the after-loop GEMMs of backward.
    const int64_t TB = 64 * 32, GH = 1024;
    std::vector<float> C(TB * GH), dW(GH * 256);
    double proj = median_ms(20, [&] {
      sgemm(false, true, TB, GH, 128, w1.x.data(), 128, w1.w_ih.data(), 128, C.data(), GH, false);
    });
    double dwhh = median_ms(
        20, [&] { sgemm(true, false, GH, 256, TB, C.data(), GH, w1.y.data(), 256, dW.data(), 256, false); });
    double dwih = median_ms(
        20, [&] { sgemm(true, false, GH, 128, TB, C.data(), GH, w1.x.data(), 128, dW.data(), 128, false); });
    double dxg = median_ms(20, [&] {
      sgemm(false, false, TB, 128, GH, C.data(), GH, w1.w_ih.data(), 128, w1.dx.data(), 128, false);
    });
    Lstm w3({64, 1, 128, 256}), w4({64, 64, 128, 256});
    double f3 = median_ms(20, [&] { w3.forward(false); });
    double f4 = median_ms(20, [&] { w4.forward(false); });
    printf("threads %d (%s): W1 fwd %.2f ms, bwd %.2f ms, fwd+bwd %.2f ms | W3 %.3f ms | W4 %.2f ms\n", th,
           th == 1 ? "CPU time" : "wall", f, b, fb, f3, f4);
    printf(
        "   phases: input proj %.2f ms, dW_hh %.2f, dW_ih %.2f, dx %.2f (so fwd loop ~%.2f, bwd loop+sums "
        "~%.2f)\n",
        proj, dwhh, dwih, dxg, f - proj, b - dwhh - dwih - dxg);
  }
  return 0;
}
