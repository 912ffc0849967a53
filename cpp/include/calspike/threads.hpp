// Thread counts for the OpenMP kernels; everything runs serially without OpenMP.
#pragma once

namespace calspike {

// True when the core was compiled with OpenMP.
bool has_openmp() noexcept;

// The most threads a caller may ask for. OpenMP runtimes kill the process or crash
// when asked for tens of thousands; 1024 is far above any machine's useful count.
inline constexpr int kMaxThreads = 1024;

// The one check of a caller's thread count, made at every entry to the core:
// throws std::invalid_argument unless 0 <= requested <= kMaxThreads (0: all cores).
int check_threads(int requested);

// Threads a parallel region may use: `requested` when positive, else OpenMP's default
// (OMP_NUM_THREADS or the cores) capped at kMaxThreads.
int resolve_threads(int requested) noexcept;

}  // namespace calspike
