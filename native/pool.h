// pool.h: the kernels' own thread pool.
//
// A parallel region runs one body on `size` threads (the calling thread is tid 0). Work inside is
// split by index ranges that depend only on (n, grain, size), and every output element is produced
// by exactly one thread in a fixed order, so results do not depend on the thread count.
// Regions from different callers (several async workers at once) run one after the other.
#pragma once
#include <stdint.h>

#include <functional>

namespace gated {

// Number of threads kernels use (default: the machine's hardware threads). n is clamped to [1, 256].
void set_threads(int n);
int get_threads();

struct Team {
  int tid;
  int size;
  // All threads of this region meet here (a full memory barrier: writes before it are seen after it).
  void barrier() const;
  void* impl;
};

// Runs body on min(get_threads(), max_threads) threads and returns when all are done. Called from
// inside a region, it runs body on the calling thread alone (size 1): no nested parallelism.
void parallel(int max_threads, const std::function<void(const Team&)>& body);

// This thread's share [*begin, *end) of [0, n) split in `size` contiguous chunks whose starts are
// multiples of grain (the last chunk takes the remainder). Chunks may be empty.
void split_range(int64_t n, int64_t grain, int tid, int size, int64_t* begin, int64_t* end);

}  // namespace gated
