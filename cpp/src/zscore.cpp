// The per-window z-score of partition (the tutorial's normalisation), exact to NumPy's bits.
#include "calspike/zscore.hpp"

#include <algorithm>
#include <cmath>

#include "calspike/pairwise_sum.hpp"

// An x86-64 build carries an AVX2 copy of the z-score kernel, chosen at load time;
// FMA stays off (-ffp-contract=off), so every copy rounds exactly like NumPy.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define CALSPIKE_TARGET_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CALSPIKE_TARGET_CLONES
#endif

namespace calspike {

namespace {

constexpr double kWindowEpsilon = 1e-7;  // the tutorial's std offset

// (w - mean(w)) / (std(w) + 1e-7) for each window, computed in double with
// NumPy's operations in NumPy's order (pairwise sums, no FMA), so the float32
// result equals NumPy's bit for bit. T is the input's float type: values are
// widened to double as they are loaded.
template <class T>
CALSPIKE_ALWAYS_INLINE inline void normalise_window(const T* window, std::int64_t length,
                                                    double* values, double* deviation, float* out) noexcept {
    for (std::int64_t j = 0; j < length; ++j) values[j] = static_cast<double>(window[j]);
    const double n = static_cast<double>(length);
    const double mean = pairwise_sum(values, length) / n;
    for (std::int64_t j = 0; j < length; ++j) {
        deviation[j] = values[j] - mean;
        values[j] = deviation[j] * deviation[j];  // now the squared deviations
    }
    const double denominator = std::sqrt(pairwise_sum(values, length) / n) + kWindowEpsilon;
    for (std::int64_t j = 0; j < length; ++j) out[j] = static_cast<float>(deviation[j] / denominator);
}

#include "zscore20.hpp"  // the 20-frame fast path, inlined into the loop below

// All `count` windows of one contiguous trace, window k starting at frame k * skip.
template <class T>
CALSPIKE_ALWAYS_INLINE inline void normalise_windows_body(const T* trace, std::int64_t count, std::int64_t skip,
                                                          std::int64_t length, float* out,
                                                          std::vector<double>& scratch) {
    std::int64_t k = 0;
#if defined(__GNUC__)
    if (length == 20) {  // the tutorial's windows: 16, then 4 at a time; the rest below
        for (; k + 16 <= count; k += 16) normalise_windows_20<4>(trace + k * skip, skip, out + k * 20);
        for (; k + 4 <= count; k += 4) normalise_windows_20<1>(trace + k * skip, skip, out + k * 20);
    }
#endif
    scratch.resize(static_cast<std::size_t>(2 * length));
    for (; k < count; ++k) {
        normalise_window(trace + k * skip, length, scratch.data(), scratch.data() + length, out + k * length);
    }
}

}  // namespace

// One entry point per input type, each with an AVX2 clone (templates cannot carry target_clones).
CALSPIKE_TARGET_CLONES
void zscore_windows(const float* trace, std::int64_t count, std::int64_t skip, std::int64_t length,
                       float* out, std::vector<double>& scratch) {
    normalise_windows_body(trace, count, skip, length, out, scratch);
}

CALSPIKE_TARGET_CLONES
void zscore_windows(const double* trace, std::int64_t count, std::int64_t skip, std::int64_t length,
                       float* out, std::vector<double>& scratch) {
    normalise_windows_body(trace, count, skip, length, out, scratch);
}

}  // namespace calspike
