#include "tests/robot/alloc_counter.h"

#include <cstddef>
#include <cstdlib>
#include <new>

namespace {

thread_local bool g_counting = false;
thread_local long g_new_calls = 0;
thread_local long g_malloc_calls = 0;

void* CountedNew(std::size_t size) {
  if (g_counting) ++g_new_calls;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

void* CountedAlignedNew(std::size_t size, std::align_val_t align) {
  if (g_counting) ++g_new_calls;
  const std::size_t a = static_cast<std::size_t>(align);
  const std::size_t rounded = (size + a - 1) / a * a;
  if (void* p = std::aligned_alloc(a, rounded == 0 ? a : rounded)) return p;
  throw std::bad_alloc();
}

}  // namespace

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define DF_COUNT_MALLOC 1
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t n, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);

void* malloc(std::size_t size) {
  if (g_counting) ++g_malloc_calls;
  return __libc_malloc(size);
}
void* calloc(std::size_t n, std::size_t size) {
  if (g_counting) ++g_malloc_calls;
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t size) {
  if (g_counting) ++g_malloc_calls;
  return __libc_realloc(p, size);
}
}  // extern "C"
#else
#define DF_COUNT_MALLOC 0
#endif

void* operator new(std::size_t size) { return CountedNew(size); }
void* operator new[](std::size_t size) { return CountedNew(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return CountedNew(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return operator new(size, std::nothrow);
}
void* operator new(std::size_t size, std::align_val_t align) {
  return CountedAlignedNew(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return CountedAlignedNew(size, align);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace dreamforge::test {

AllocCounter::AllocCounter() {
  g_new_calls = 0;
  g_malloc_calls = 0;
  g_counting = true;
}

AllocCounter::~AllocCounter() { g_counting = false; }

long AllocCounter::new_calls() const { return g_new_calls; }
long AllocCounter::malloc_calls() const { return g_malloc_calls; }
bool AllocCounter::CountsMalloc() { return DF_COUNT_MALLOC != 0; }

}  // namespace dreamforge::test
