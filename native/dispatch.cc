// dispatch.cc: detects the CPU once and hands out the matching kernel table (contract: dispatch.h).
#include "dispatch.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

namespace gated {
namespace {

constexpr int kMaxTables = 3;

struct Tables {
  KernelTable t[kMaxTables]{};  // best first; scalar last
  int n = 0;
  std::string names;  // "avx512, avx2, scalar", for the notice
  std::string requested, notice;
  const KernelTable* initial = nullptr;

  Tables() {
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    // __builtin_cpu_supports also checks that the OS saves the registers (XCR0) for AVX and AVX-512.
    if (avx2 && __builtin_cpu_supports("avx512f")) fill_avx512(t[n++]);
    if (avx2) fill_avx2(t[n++]);
#elif defined(__aarch64__)
    fill_neon(t[n++]);
#endif
    fill_scalar(t[n++]);
    for (int i = 0; i < n; i++) names += std::string(i ? ", " : "") + t[i].isa;
    initial = &t[0];
    const char* env = std::getenv("GATED_ISA");
    if (env && *env) {
      requested.assign(env, strnlen(env, 64));
      const KernelTable* want = find(requested.c_str());
      if (want) {
        initial = want;
      } else {
        const bool known =
            requested == "avx512" || requested == "avx2" || requested == "neon" || requested == "scalar";
        notice = "GATED_ISA=" + requested +
                 (known ? " is not available on this CPU or build" : " is not an instruction set") +
                 " (available: " + names + "); using " + t[0].isa;
      }
    }
  }

  const KernelTable* find(const char* isa) const {
    for (int i = 0; i < n; i++)
      if (std::strcmp(isa, t[i].isa) == 0) return &t[i];
    return nullptr;
  }
};

const Tables& tables() {
  static const Tables t;  // thread-safe one-time initialisation
  return t;
}

std::atomic<const KernelTable*>& active() {
  static std::atomic<const KernelTable*> a{tables().initial};
  return a;
}

}  // namespace

const KernelTable& kernels() { return *active().load(std::memory_order_acquire); }

bool set_isa(const char* isa) {
  const KernelTable* t = tables().find(isa);
  if (!t) return false;
  active().store(t, std::memory_order_release);
  return true;
}

bool isa_available(const char* isa) { return tables().find(isa) != nullptr; }
const char* available_isa(int i) { return i >= 0 && i < tables().n ? tables().t[i].isa : nullptr; }
const char* best_isa() { return tables().t[0].isa; }
const char* requested_isa() { return tables().requested.c_str(); }
const char* isa_notice() { return tables().notice.c_str(); }

}  // namespace gated
