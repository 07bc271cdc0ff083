// check.h: the one assertion the native tests share. CHECK(cond, printf-args) counts a failure and
// prints the first 30 with their location; main() returns check_failures() != 0. Thread-safe.
#pragma once
#include <stdio.h>

#include <atomic>

inline std::atomic<int> g_failures{0};
inline int check_failures() { return g_failures.load(); }

#define CHECK(cond, ...)                            \
  do {                                              \
    if (!(cond)) {                                  \
      if (g_failures.fetch_add(1) < 30) {           \
        printf("FAIL %s:%d: ", __FILE__, __LINE__); \
        printf(__VA_ARGS__);                        \
        printf("\n");                               \
      }                                             \
    }                                               \
  } while (0)
