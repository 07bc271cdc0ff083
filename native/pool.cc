// STUB: replaced by its owner (runs everything on the calling thread).
#include "pool.h"
namespace gated {
static int g_threads = 1;
void set_threads(int n) { g_threads = n < 1 ? 1 : (n > 256 ? 256 : n); }
int get_threads() { return g_threads; }
void Team::barrier() const {}
void parallel(int, const std::function<void(const Team&)>& body) { Team t{0, 1, nullptr}; body(t); }
void split_range(int64_t n, int64_t grain, int tid, int size, int64_t* b, int64_t* e) {
  int64_t chunks = (n + grain - 1) / grain, per = chunks / size, rem = chunks % size;
  int64_t c0 = tid * per + (tid < rem ? tid : rem), c1 = c0 + per + (tid < rem ? 1 : 0);
  *b = c0 * grain < n ? c0 * grain : n; *e = c1 * grain < n ? c1 * grain : n;
}
}  // namespace gated
