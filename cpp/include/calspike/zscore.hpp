// The per-window z-score behind partition(normalize="window").
#pragma once

#include <cstdint>
#include <vector>

namespace calspike {

// (w - mean(w)) / (std(w) + 1e-7), population std, for `count` windows of `length`
// frames, window k starting at trace[k * skip]; row k of `out` receives window k.
// Computed in double with NumPy's operations in NumPy's order (pairwise sums, no
// FMA), so the float32 result equals NumPy's bit for bit. `scratch` is reused.
void zscore_windows(const float* trace, std::int64_t count, std::int64_t skip, std::int64_t length,
                    float* out, std::vector<double>& scratch);
void zscore_windows(const double* trace, std::int64_t count, std::int64_t skip, std::int64_t length,
                    float* out, std::vector<double>& scratch);

}  // namespace calspike
