// NumPy's pairwise summation of doubles, reproduced operation for operation so
// that means and standard deviations agree with NumPy's to the last bit.
#pragma once

#include <cstdint>

#if defined(__GNUC__)
#define CALSPIKE_ALWAYS_INLINE __attribute__((always_inline))
#else
#define CALSPIKE_ALWAYS_INLINE
#endif

namespace calspike {

// NumPy's pairwise_sum for n <= 128: one run of eight interleaved accumulators.
CALSPIKE_ALWAYS_INLINE inline double pairwise_sum_block(const double* a, std::int64_t n) noexcept {
    if (n < 8) {
        double res = 0.0;
        for (std::int64_t i = 0; i < n; ++i) res += a[i];
        return res;
    }
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    std::int64_t i = 8;
    for (; i < n - (n % 8); i += 8) {
        for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
}

// NumPy's pairwise_sum for any n: halves (at multiples of 8) down to blocks of <= 128.
inline double pairwise_sum(const double* a, std::int64_t n) noexcept {
    if (n <= 128) return pairwise_sum_block(a, n);
    std::int64_t half = n / 2;
    half -= half % 8;
    return pairwise_sum(a, half) + pairwise_sum(a + half, n - half);
}

}  // namespace calspike
