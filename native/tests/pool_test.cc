// pool_test.cc: the thread pool: parallel sums over split ranges, barrier phases, nested regions,
// set_threads changes, concurrent callers, exceptions. Exits non-zero on failure.
#include <stdio.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.h"
#include "pool.h"

using namespace gated;

static void test_split_range() {
  for (int64_t n : {0, 1, 7, 100, 1023, 1024}) {
    for (int64_t grain : {1, 4, 16}) {
      for (int size = 1; size <= 5; size++) {
        int64_t prev = 0;
        for (int tid = 0; tid < size; tid++) {
          int64_t b, e;
          split_range(n, grain, tid, size, &b, &e);
          CHECK(b == prev && e >= b && (b % grain == 0 || b == n), "split n=%lld g=%lld", (long long)n,
                (long long)grain);
          prev = e;
        }
        CHECK(prev == n, "split covers n=%lld", (long long)n);
      }
    }
  }
}

// Each thread sums its chunk of [0, n); the total must match and each index be visited once.
static void test_sums(int threads) {
  set_threads(threads);
  const int64_t n = 100003;
  std::vector<int> visits(n, 0);
  std::vector<int64_t> partial(64, 0);
  int seen_size = 0;
  parallel(64, [&](const Team& t) {
    if (t.tid == 0) seen_size = t.size;
    int64_t b, e;
    split_range(n, 8, t.tid, t.size, &b, &e);
    int64_t s = 0;
    for (int64_t i = b; i < e; i++) {
      visits[i]++;
      s += i;
    }
    partial[t.tid] = s;
  });
  int64_t total = 0;
  for (int64_t s : partial) total += s;
  CHECK(seen_size == threads, "size %d != threads %d", seen_size, threads);
  CHECK(total == n * (n - 1) / 2, "sum with %d threads", threads);
  bool once = true;
  for (int v : visits) once = once && v == 1;
  CHECK(once, "each index once with %d threads", threads);
  // max_threads caps the team.
  parallel(2, [&](const Team& t) {
    if (t.tid == 0) seen_size = t.size;
  });
  CHECK(seen_size == (threads < 2 ? threads : 2), "max_threads cap");
}

// Phases: in phase p every thread writes its slot, meets the others, then reads all slots.
static void test_barrier(int threads, int phases) {
  set_threads(threads);
  std::vector<int64_t> slot(threads, -1);
  std::atomic<int> bad{0};
  parallel(threads, [&](const Team& t) {
    for (int p = 0; p < phases; p++) {
      slot[t.tid] = (int64_t)p * 1000 + t.tid;
      t.barrier();
      for (int j = 0; j < t.size; j++)
        if (slot[j] != (int64_t)p * 1000 + j) bad.fetch_add(1);
      t.barrier();  // nobody writes phase p+1 before all have read phase p
    }
  });
  CHECK(bad.load() == 0, "barrier phases with %d threads: %d bad reads", threads, bad.load());
}

static void test_nested() {
  set_threads(3);
  std::atomic<int> inner_runs{0}, inner_bad{0};
  parallel(3, [&](const Team& t) {
    parallel(8, [&](const Team& u) {
      if (u.tid != 0 || u.size != 1) inner_bad.fetch_add(1);
      u.barrier();  // size 1: returns at once
      inner_runs.fetch_add(1);
    });
    t.barrier();
  });
  CHECK(inner_bad.load() == 0 && inner_runs.load() == 3, "nested: runs %d bad %d", inner_runs.load(),
        inner_bad.load());
}

// Two std::threads call parallel at once; regions are serialized and both results are right.
static void test_concurrent_callers() {
  set_threads(2);
  auto caller = [](int seed, int64_t* out) {
    int64_t total = 0;
    for (int r = 0; r < 300; r++) {
      std::vector<int64_t> part(2, 0);
      parallel(2, [&](const Team& t) {
        int64_t b, e;
        split_range(1000, 1, t.tid, t.size, &b, &e);
        int64_t s = 0;
        for (int64_t i = b; i < e; i++) s += i * seed;
        part[t.tid] = s;
        t.barrier();
      });
      total += part[0] + part[1];
    }
    *out = total;
  };
  int64_t a = 0, b = 0;
  std::thread t1(caller, 1, &a), t2(caller, 3, &b);
  t1.join();
  t2.join();
  CHECK(a == 300LL * 499500 && b == 3LL * 300 * 499500, "concurrent callers %lld %lld", (long long)a,
        (long long)b);
}

static void test_exception() {
  set_threads(2);
  bool caught = false;
  try {
    parallel(2, [&](const Team& t) {
      if (t.tid == 1) throw std::runtime_error("worker");
    });
  } catch (const std::runtime_error&) {
    caught = true;
  }
  CHECK(caught, "worker exception reaches the caller");
  int64_t n = 0;
  parallel(2, [&](const Team& t) {
    if (t.tid == 0) n = t.size;
  });
  CHECK(n == 2, "pool usable after an exception");
}

int main() {
  CHECK(get_threads() >= 1, "default threads");
  test_split_range();
  for (int th = 1; th <= 4; th++) test_sums(th);
  for (int th = 4; th >= 1; th--) test_sums(th);
  test_barrier(2, 20000);
  test_barrier(3, 2000);
  test_barrier(4, 2000);  // more threads than cores: spin briefly, then sleep
  test_nested();
  test_concurrent_callers();
  test_exception();
  set_threads(300);
  CHECK(get_threads() == 256, "clamp high");
  set_threads(0);
  CHECK(get_threads() == 1, "clamp low");
  set_threads(2);
  if (check_failures()) {
    printf("pool_test: %d failure(s)\n", check_failures());
    return 1;
  }
  printf("pool_test: OK\n");
  return 0;
}
