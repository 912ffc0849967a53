#include "calspike/threads.hpp"

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

int resolve_threads(int requested) noexcept {
#ifdef _OPENMP
    return requested > 0 ? requested : omp_get_max_threads();
#else
    (void)requested;
    return 1;
#endif
}

}  // namespace calspike
