#include "calspike/threads.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace calspike {

bool has_openmp() noexcept {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

int check_threads(int requested) {
    if (requested < 0 || requested > kMaxThreads) {
        throw std::invalid_argument("threads must be in [0, " + std::to_string(kMaxThreads) +
                                    "] (0: all cores), got " + std::to_string(requested));
    }
    return requested;
}

int resolve_threads(int requested) noexcept {
#ifdef _OPENMP
    if (requested > 0) {
        return requested;
    }
    // OpenMP's default comes from OMP_NUM_THREADS, which can ask for more threads than any
    // runtime starts (100000 crashed the process): capped as a caller's request is.
    return std::clamp(omp_get_max_threads(), 1, kMaxThreads);
#else
    (void)requested;
    return 1;
#endif
}

}  // namespace calspike
