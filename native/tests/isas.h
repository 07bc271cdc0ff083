// isas.h: test_isas(), every instruction set this build has and this CPU runs (dispatch.h), best
// first. The native tests run their ISA-dependent parts under each one and print which ran.
#pragma once
#include <string>
#include <vector>

#include "dispatch.h"

inline std::vector<std::string> test_isas() {
  std::vector<std::string> out;
  for (int i = 0; gated::available_isa(i); i++) out.push_back(gated::available_isa(i));
  return out;
}
