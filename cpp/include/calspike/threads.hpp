// Thread counts for the OpenMP kernels; everything runs serially without OpenMP.
#pragma once

namespace calspike {

// True when the core was compiled with OpenMP.
bool has_openmp() noexcept;

// Threads a parallel region may use: `requested` when positive, else OpenMP's default.
int resolve_threads(int requested) noexcept;

}  // namespace calspike
