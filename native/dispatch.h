// dispatch.h: the one place that knows which instruction set runs.
//
// Each isa_<name>.cc compiles the vectorized kernels (math.inc, gemm.inc, cells.inc, train.inc) for
// one instruction set and fills a KernelTable. kernels() returns the table picked once, at first use:
//   - the environment variable GATED_ISA (read once, then) when it names an instruction set that this
//     build has and this CPU runs ("avx512", "avx2", "neon", "scalar");
//   - otherwise the best one the CPU runs: on x86-64 AVX-512 (avx512f, with AVX2 and FMA) over
//     AVX2+FMA over scalar; on arm64 NEON. A GATED_ISA value that is unknown or not runnable here
//     does not stop the load: the best table is used and isa_notice() says why (the TS layer shows
//     it as a process warning).
// AVX-512 is chosen whenever the CPU has it, including parts that lower their clock while running
// 512-bit code (some older Intel server chips); GATED_ISA=avx2 (or set_isa) opts out.
// Nothing else in native/ checks the CPU.
#pragma once
#include <stdint.h>

#include "gemm_kernels.h"
#include "math_kernels.h"
#include "cell_kernels.h"
#include "train_kernels.h"

namespace gated {

struct KernelTable {
  const char* isa;  // "avx512", "avx2", "neon" or "scalar"
  MathKernels math;
  GemmKernels gemm;
  CellKernels cell;
  TrainKernels train;
};

// The active table (see the top of this file for how it is picked).
const KernelTable& kernels();
// Switches the active table to `isa`. Returns false (and changes nothing) when this build or CPU
// cannot run it. Call it while no kernel runs: a kernel running on another thread may see the switch
// half-way (it stays memory-safe, packed weights of the other ISA take a slow path, but its result is
// then neither ISA's).
bool set_isa(const char* isa);
// Whether `isa` is compiled in and runs on this CPU.
bool isa_available(const char* isa);
// The i-th instruction set this build has and this CPU runs, best first (i = 0 is best_isa(), the
// last is "scalar"); nullptr past the end.
const char* available_isa(int i);
// The best instruction set for this CPU (what kernels() starts with unless GATED_ISA says otherwise).
const char* best_isa();
// GATED_ISA as read at load ("" when unset or empty).
const char* requested_isa();
// Empty, or why GATED_ISA was not followed (e.g. "GATED_ISA=avx512 is not available on this CPU
// (available: avx2, scalar); using avx2").
const char* isa_notice();

// Filled by the isa_*.cc files (each defined only where that file compiles).
void fill_scalar(KernelTable& t);
void fill_avx2(KernelTable& t);
void fill_avx512(KernelTable& t);
void fill_neon(KernelTable& t);

}  // namespace gated
