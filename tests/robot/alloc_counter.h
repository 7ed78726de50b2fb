// Counts heap allocations made by the calling thread while an AllocCounter is alive
// (STYLE.md #3: the real-time path does not allocate, and a test proves it).
//
// Linking alloc_counter.cc replaces the global operator new/delete for the whole test
// executable; they only count while a counter is alive on the calling thread. On glibc
// (outside sanitizer builds) malloc is interposed too, because Eigen allocates its
// dynamic matrices with std::malloc, not operator new.

#pragma once

namespace dreamforge::test {

class AllocCounter {
 public:
  AllocCounter();
  ~AllocCounter();
  AllocCounter(const AllocCounter&) = delete;
  AllocCounter& operator=(const AllocCounter&) = delete;

  // Calls of any operator new since construction.
  long new_calls() const;
  // Calls of malloc/calloc/realloc since construction (0 when not interposed).
  long malloc_calls() const;
  // Whether malloc-family calls are counted in this build.
  static bool CountsMalloc();
};

}  // namespace dreamforge::test
