// pool.cc: the kernels' thread pool (contract in pool.h).
//
// Persistent workers, created lazily by the first parallel() that needs them and resized by
// set_threads(). The calling thread is tid 0. Every wait (a worker waiting for a region, the caller
// waiting for its workers, a thread waiting at a barrier) is spin-then-sleep: a bounded number of
// pause instructions (a barrier comes every ~5-50 us inside a recurrence, so sleeping right away
// would cost more than the step), then a few yields, then a condition variable (so idle workers, or
// more threads than cores, do not burn CPU). Wakers only take the mutex when someone sleeps.
//
// Exit: a static reaper stops and joins the workers (if a region is still running on another thread
// at exit, it only tells them to stop); the pool state itself is never destroyed, so a straggler
// thread never touches freed memory, and parallel() after shutdown runs serially.
// A body must not throw while other threads of its team can still wait for it at a barrier.
#include "pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define GATED_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define GATED_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define GATED_CPU_RELAX() ((void)0)
#endif

namespace gated {
namespace {

// About 20 ns per pause on Zen 5: ~40 us of spinning at a barrier, ~20 us for a worker between
// regions; when the team has more threads than the machine has, spin only briefly and yield.
constexpr int kBarrierSpins = 2000;
constexpr int kIdleSpins = 1000;
constexpr int kOversubscribedSpins = 50;
constexpr int kYields = 8;

int hardware_threads() {
  static const int n = [] {
    unsigned h = std::thread::hardware_concurrency();
    return h == 0 ? 1 : (h > 256 ? 256 : (int)h);
  }();
  return n;
}

// Spin-then-sleep waiting on an atomic condition. State changes are seq_cst stores/RMWs followed by
// wake(); the waiter registers in `sleepers` (seq_cst) before its last check, so either the waker
// sees the sleeper or the sleeper sees the new state (no lost wake-up).
struct Waiter {
  std::mutex m;
  std::condition_variable cv;
  std::atomic<int> sleepers{0};

  template <class Done>
  void wait(Done done, int spins) {
    for (int i = 0; i < spins; i++) {
      if (done()) return;
      GATED_CPU_RELAX();
    }
    for (int i = 0; i < kYields; i++) {
      if (done()) return;
      std::this_thread::yield();
    }
    sleepers.fetch_add(1);
    {
      std::unique_lock<std::mutex> lk(m);
      while (!done()) cv.wait(lk);
    }
    sleepers.fetch_sub(1);
  }
  void wake() {
    if (sleepers.load() > 0) {
      { std::lock_guard<std::mutex> lk(m); }  // a sleeper is either before its check or in wait()
      cv.notify_all();
    }
  }
};

thread_local bool t_in_region = false;

struct Pool {
  std::atomic<int> threads{hardware_threads()};  // what set_threads asked for

  std::mutex region_mutex;           // one region at a time (several async workers may call)
  std::vector<std::thread> workers;  // worker i has tid i + 1; touched under region_mutex only
  std::atomic<int> worker_limit{0};  // workers with index >= this exit
  std::atomic<bool> stopped{false};

  // The current region: (generation << 16) | size in one word, so a worker reads a consistent pair;
  // body is written before the word is published and read only by participants.
  std::atomic<uint64_t> region{0};
  const std::function<void(const Team&)>* body = nullptr;
  std::atomic<int> pending{0};  // participants (other than tid 0) still running
  std::mutex error_mutex;
  std::exception_ptr error;

  // Barrier of the current region.
  std::atomic<int> bar_count{0};
  std::atomic<uint32_t> bar_gen{0};

  Waiter start, done, bar;

  int spins(int size, int base) const { return size > hardware_threads() ? kOversubscribedSpins : base; }

  void worker_main(int index, uint64_t seen) {
    t_in_region = true;  // anything a body calls runs nested (serial)
    const int tid = index + 1;
    for (;;) {
      uint64_t word = 0;
      start.wait(
          [&] {
            word = region.load();
            return (word >> 16) != (seen >> 16) || stopped.load() || index >= worker_limit.load();
          },
          kIdleSpins);
      if (stopped.load() || index >= worker_limit.load()) return;
      seen = word;
      const int size = (int)(word & 0xffff);
      if (tid >= size) continue;
      Team team{tid, size, this};
      try {
        (*body)(team);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mutex);
        if (!error) error = std::current_exception();
      }
      if (pending.fetch_sub(1) == 1) done.wake();
    }
  }

  // Under region_mutex: make exactly `n` workers exist.
  void resize(int n) {
    int have = (int)workers.size();
    if (n < have) {
      worker_limit.store(n);
      start.wake();
      for (int i = n; i < have; i++) workers[i].join();
      workers.resize(n);
    } else if (n > have) {
      worker_limit.store(n);
      const uint64_t seen = region.load();
      for (int i = have; i < n; i++) workers.emplace_back([this, i, seen] { worker_main(i, seen); });
    }
  }

  void run(int size, const std::function<void(const Team&)>& fn) {
    std::unique_lock<std::mutex> lk(region_mutex);
    if (stopped.load()) {
      lk.unlock();
      Team team{0, 1, nullptr};
      fn(team);
      return;
    }
    if ((int)workers.size() < size - 1 || (int)workers.size() > threads.load() - 1) {
      int want = threads.load() - 1;
      if (want < size - 1) want = size - 1;
      resize(want);
    }
    body = &fn;
    error = nullptr;
    bar_count.store(0);
    pending.store(size - 1);
    region.store((((region.load() >> 16) + 1) << 16) | (uint64_t)size);
    start.wake();

    t_in_region = true;
    Team team{0, size, this};
    std::exception_ptr mine;
    try {
      fn(team);
    } catch (...) {
      mine = std::current_exception();
    }
    t_in_region = false;
    done.wait([&] { return pending.load() == 0; }, spins(size, kBarrierSpins));
    body = nullptr;
    std::exception_ptr err = mine ? mine : error;
    error = nullptr;
    lk.unlock();
    if (err) std::rethrow_exception(err);
  }

  void barrier(int size) {
    const uint32_t gen = bar_gen.load();
    if (bar_count.fetch_add(1) == size - 1) {
      bar_count.store(0);
      bar_gen.store(gen + 1);
      bar.wake();
    } else {
      bar.wait([&] { return bar_gen.load() != gen; }, spins(size, kBarrierSpins));
    }
  }

  // At exit: join the workers if no region is running; otherwise only tell them to stop (they exit
  // after the region; their std::thread objects are never destroyed, so nothing terminates).
  void shutdown() {
    std::unique_lock<std::mutex> lk(region_mutex, std::defer_lock);
    bool idle = lk.try_lock();
    for (int i = 0; i < 200 && !idle; i++) {  // a region still running elsewhere: wait up to ~200 ms
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      idle = lk.try_lock();
    }
    stopped.store(true);
    start.wake();
    if (!idle) return;
    for (std::thread& t : workers) {
#if defined(_WIN32)
      t.detach();  // joining from a DLL's static destructor deadlocks on the loader lock
#else
      t.join();
#endif
    }
    workers.clear();
  }
};

// Never destroyed: a thread still inside a region at exit keeps valid state to finish on.
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

struct Reaper {
  ~Reaper() { pool().shutdown(); }
};
Reaper g_reaper;

}  // namespace

void set_threads(int n) { pool().threads.store(n < 1 ? 1 : (n > 256 ? 256 : n)); }

int get_threads() { return pool().threads.load(); }

void Team::barrier() const {
  if (size <= 1 || impl == nullptr) return;
  static_cast<Pool*>(impl)->barrier(size);
}

void parallel(int max_threads, const std::function<void(const Team&)>& body) {
  int size = get_threads();
  if (max_threads < size) size = max_threads;
  if (size < 1 || t_in_region) size = 1;
  if (size == 1) {
    // Nested or single-threaded: on the calling thread, no lock (nothing shared).
    const bool outer = t_in_region;
    t_in_region = true;
    Team team{0, 1, nullptr};
    try {
      body(team);
    } catch (...) {
      t_in_region = outer;
      throw;
    }
    t_in_region = outer;
    return;
  }
  pool().run(size, body);
}

void split_range(int64_t n, int64_t grain, int tid, int size, int64_t* begin, int64_t* end) {
  if (grain < 1) grain = 1;
  if (size < 1) size = 1;
  int64_t chunks = (n + grain - 1) / grain, per = chunks / size, rem = chunks % size;
  int64_t c0 = tid * per + (tid < rem ? tid : rem), c1 = c0 + per + (tid < rem ? 1 : 0);
  *begin = c0 * grain < n ? c0 * grain : n;
  *end = c1 * grain < n ? c1 * grain : n;
}

}  // namespace gated
