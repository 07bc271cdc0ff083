// dispatch.h: the one place that knows which instruction set runs.
//
// Each isa_<name>.cc compiles the vectorized kernels (math.inc, gemm.inc, cells.inc) for one
// instruction set and fills a KernelTable. kernels() returns the table picked once, at first use,
// from the CPU's features (AVX2+FMA on x86-64 when present, NEON on arm64, scalar otherwise).
// Nothing else in native/ checks the CPU.
#pragma once
#include <stdint.h>

#include "gemm_kernels.h"
#include "math_kernels.h"
#include "cell_kernels.h"
#include "train_kernels.h"

namespace gated {

struct KernelTable {
  const char* isa;  // "avx2", "neon" or "scalar"
  MathKernels math;
  GemmKernels gemm;
  CellKernels cell;
  TrainKernels train;
};

// The active table. Picked from the CPU on first call; set_isa() can switch it (tests only).
const KernelTable& kernels();
// Switches the active table to `isa` ("avx2", "neon", "scalar"). Returns false (and changes nothing)
// when this build or CPU cannot run it. Not safe while kernels run on other threads: tests only.
bool set_isa(const char* isa);
// Whether `isa` is compiled in and runs on this CPU.
bool isa_available(const char* isa);
// The best instruction set for this CPU (what kernels() starts with).
const char* best_isa();

// Filled by the isa_*.cc files (each defined only where that file compiles).
void fill_scalar(KernelTable& t);
void fill_avx2(KernelTable& t);
void fill_neon(KernelTable& t);

}  // namespace gated
