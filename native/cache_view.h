// cache_view.h: what every named cache view (cells.h, jordan.h) is built from.
//
// A cache, written by forward and read by backward, is a run of blocks, each [T, B, width] and
// indexed by time t: row (t, b) of a block at offset (t*B + b) * width. Each cell's cache layout is
// spelled once, as a view struct whose constructor takes the blocks in order; forward (F = float),
// backward (F = const float), the binding's size checks and the tests all go through that view.
#pragma once
#include <stdint.h>

namespace gated {

// The blocks of one cache in order, carved from one base pointer. A null base (inference: nothing
// kept) gives null blocks. N: how many blocks the view takes.
template <class F, int N>
class CacheBlocks {
 public:
  struct Block {
    F* data;        // [rows, width]
    int64_t width;  // floats per row
  };
  CacheBlocks(F* base, int64_t rows) : next_(base), rows_(rows) {}
  // The next block, `width` floats per row. A view calls it exactly N times, in cache order.
  F* take(int64_t width) {
    F* p = next_;
    if (count_ < N) blocks_[count_++] = Block{p, width};
    if (next_) next_ += rows_ * width;
    return p;
  }
  int count() const { return count_; }
  int64_t rows() const { return rows_; }
  const Block& operator[](int i) const { return blocks_[i]; }

 private:
  Block blocks_[N] = {};
  F* next_;
  int64_t rows_;
  int count_ = 0;
};

}  // namespace gated
