// dispatch.cc: detects the CPU once and hands out the matching kernel table.
#include "dispatch.h"

#include <atomic>
#include <cstring>

namespace gated {
namespace {

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

struct Tables {
  KernelTable scalar{};
  KernelTable simd{};  // avx2 or neon, when available
  bool has_simd = false;
  Tables() {
    fill_scalar(scalar);
#if defined(__x86_64__) || defined(_M_X64)
    if (cpu_has_avx2_fma()) {
      fill_avx2(simd);
      has_simd = true;
    }
#elif defined(__aarch64__)
    fill_neon(simd);
    has_simd = true;
#endif
  }
};

const Tables& tables() {
  static const Tables t;  // thread-safe one-time initialisation
  return t;
}

std::atomic<const KernelTable*>& active() {
  static std::atomic<const KernelTable*> a{tables().has_simd ? &tables().simd : &tables().scalar};
  return a;
}

const KernelTable* find(const char* isa) {
  const Tables& t = tables();
  if (std::strcmp(isa, "scalar") == 0) return &t.scalar;
  if (t.has_simd && std::strcmp(isa, t.simd.isa) == 0) return &t.simd;
  return nullptr;
}

}  // namespace

const KernelTable& kernels() { return *active().load(std::memory_order_acquire); }

bool set_isa(const char* isa) {
  const KernelTable* t = find(isa);
  if (!t) return false;
  active().store(t, std::memory_order_release);
  return true;
}

bool isa_available(const char* isa) { return find(isa) != nullptr; }

const char* best_isa() { return tables().has_simd ? tables().simd.isa : "scalar"; }

}  // namespace gated
