#include "calspike/buffer.hpp"

#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace calspike::detail {

namespace {
constexpr std::size_t kCacheLine = 64;
constexpr std::size_t kHugePage = std::size_t{2} << 20;
}  // namespace

void* allocate_bytes(std::size_t bytes) {
    // Large outputs are aligned to 2 MiB and marked for transparent huge pages:
    // the first touch then faults 2 MiB at a time instead of 4 KiB, which is a
    // large part of the cost of filling fresh memory.
    const bool huge = bytes >= 4 * kHugePage;
    const std::size_t alignment = huge ? kHugePage : kCacheLine;
    const std::size_t rounded = ((bytes == 0 ? 1 : bytes) + alignment - 1) / alignment * alignment;
    void* ptr = std::aligned_alloc(alignment, rounded);
    if (ptr == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (huge) madvise(ptr, rounded, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
    return ptr;
}

void free_bytes(void* ptr) noexcept { std::free(ptr); }

}  // namespace calspike::detail
