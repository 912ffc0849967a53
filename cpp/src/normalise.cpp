// Normalisation kernels of partition: exact per-window z-scores, robust trace statistics.
#include "calspike/normalise.hpp"

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

constexpr double kWindowEpsilon = 1e-7;            // the tutorial's std offset
constexpr double kMadToSigma = 1.482602218505602;  // 1 / Phi^-1(3/4)

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

#if defined(__GNUC__)
// The tutorial's 20-frame window held in five 4-double registers (AVX2 in the
// AVX2 clone, two SSE2 halves otherwise). NumPy's order for n = 20 is r[j] = w[j] +
// w[j + 8] for j < 8, then ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then w[16..19] one by one.
typedef double Double4 __attribute__((vector_size(32)));
typedef double UnalignedDouble4 __attribute__((vector_size(32), aligned(8), may_alias));
typedef float Float4 __attribute__((vector_size(16)));
typedef float UnalignedFloat4 __attribute__((vector_size(16), aligned(4), may_alias));

CALSPIKE_ALWAYS_INLINE inline Double4 load4(const double* at) noexcept {
    return *reinterpret_cast<const UnalignedDouble4*>(at);
}
CALSPIKE_ALWAYS_INLINE inline Double4 load4(const float* at) noexcept {
    return __builtin_convertvector(*reinterpret_cast<const UnalignedFloat4*>(at), Double4);
}

CALSPIKE_ALWAYS_INLINE inline double pairwise_sum_20(const Double4 (&w)[5]) noexcept {
    const Double4 low = w[0] + w[2], high = w[1] + w[3];  // r0..r3, r4..r7
    double res = ((low[0] + low[1]) + (low[2] + low[3])) + ((high[0] + high[1]) + (high[2] + high[3]));
    res += w[4][0];
    res += w[4][1];
    res += w[4][2];
    res += w[4][3];
    return res;
}

// Rows a, b, c, d of a 4x4 block, returned as its columns.
CALSPIKE_ALWAYS_INLINE inline void transpose4(Double4& a, Double4& b, Double4& c, Double4& d) noexcept {
    const Double4 ab_even = __builtin_shufflevector(a, b, 0, 4, 2, 6), ab_odd = __builtin_shufflevector(a, b, 1, 5, 3, 7);
    const Double4 cd_even = __builtin_shufflevector(c, d, 0, 4, 2, 6), cd_odd = __builtin_shufflevector(c, d, 1, 5, 3, 7);
    a = __builtin_shufflevector(ab_even, cd_even, 0, 1, 4, 5);
    b = __builtin_shufflevector(ab_odd, cd_odd, 0, 1, 4, 5);
    c = __builtin_shufflevector(ab_even, cd_even, 2, 3, 6, 7);
    d = __builtin_shufflevector(ab_odd, cd_odd, 2, 3, 6, 7);
}

// pairwise_sum_20 of four windows at once, lane c holding window c's sum: the
// per-window vectors are transposed so that every step of NumPy's order
// becomes one vector operation across the four windows.
CALSPIKE_ALWAYS_INLINE inline Double4 pairwise_sum_20x4(const Double4 (&w)[4][5]) noexcept {
    Double4 low[4], high[4], tail[4];
    for (int c = 0; c < 4; ++c) {
        low[c] = w[c][0] + w[c][2];   // r0..r3 of window c
        high[c] = w[c][1] + w[c][3];  // r4..r7 of window c
        tail[c] = w[c][4];            // w16..w19 of window c
    }
    transpose4(low[0], low[1], low[2], low[3]);  // low[j] = r_j of the four windows
    transpose4(high[0], high[1], high[2], high[3]);
    transpose4(tail[0], tail[1], tail[2], tail[3]);
    Double4 res = ((low[0] + low[1]) + (low[2] + low[3])) + ((high[0] + high[1]) + (high[2] + high[3]));
    for (int j = 0; j < 4; ++j) res += tail[j];
    return res;
}

// Four windows: moments across lanes, then each window's values divided by its own
// denominator (broadcast back from its lane).
template <class T>
CALSPIKE_ALWAYS_INLINE inline void normalise_windows_20x4(const T* const (&window)[4], float* const (&out)[4]) noexcept {
    Double4 w[4][5], squared[4][5];
    for (int c = 0; c < 4; ++c)
        for (int k = 0; k < 5; ++k) w[c][k] = load4(window[c] + 4 * k);
    const Double4 mean = pairwise_sum_20x4(w) / 20.0;
    for (int c = 0; c < 4; ++c)
        for (int k = 0; k < 5; ++k) {
            w[c][k] -= mean[c];  // now the deviations
            squared[c][k] = w[c][k] * w[c][k];
        }
    Double4 variance = pairwise_sum_20x4(squared) / 20.0;
    const Double4 denominator = Double4{std::sqrt(variance[0]), std::sqrt(variance[1]), std::sqrt(variance[2]),
                                        std::sqrt(variance[3])} + kWindowEpsilon;
    for (int c = 0; c < 4; ++c)
        for (int k = 0; k < 5; ++k) {
            const Double4 quotient = w[c][k] / denominator[c];
            *reinterpret_cast<UnalignedFloat4*>(out[c] + 4 * k) = __builtin_convertvector(quotient, Float4);
        }
}

// One window, the same operations in scalar form (for the last count % 4 windows).
template <class T>
CALSPIKE_ALWAYS_INLINE inline void normalise_window_20(const T* window, float* out) noexcept {
    Double4 w[5], squared[5];
    for (int k = 0; k < 5; ++k) w[k] = load4(window + 4 * k);
    const double mean = pairwise_sum_20(w) / 20.0;
    for (int k = 0; k < 5; ++k) {
        w[k] -= mean;
        squared[k] = w[k] * w[k];
    }
    const double denominator = std::sqrt(pairwise_sum_20(squared) / 20.0) + kWindowEpsilon;
    for (int k = 0; k < 5; ++k)
        *reinterpret_cast<UnalignedFloat4*>(out + 4 * k) = __builtin_convertvector(w[k] / denominator, Float4);
}
#endif

// All `count` windows of one contiguous trace, window k starting at frame k * skip.
template <class T>
CALSPIKE_ALWAYS_INLINE inline void normalise_windows_body(const T* trace, std::int64_t count, std::int64_t skip,
                                                          std::int64_t length, float* out,
                                                          std::vector<double>& scratch) {
#if defined(__GNUC__)
    if (length == 20) {  // the tutorial's windows, four at a time
        std::int64_t k = 0;
        for (; k + 3 < count; k += 4) {
            const T* first = trace + k * skip;
            float* row = out + k * 20;
            normalise_windows_20x4<T>({first, first + skip, first + 2 * skip, first + 3 * skip},
                                      {row, row + 20, row + 40, row + 60});
        }
        for (; k < count; ++k) normalise_window_20(trace + k * skip, out + k * 20);
        return;
    }
#endif
    scratch.resize(static_cast<std::size_t>(2 * length));
    for (std::int64_t k = 0; k < count; ++k) {
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

namespace {

double median_in_place(double* values, std::int64_t n) {
    const std::int64_t mid = n / 2;
    std::nth_element(values, values + mid, values + n);
    const double upper = values[mid];
    if (n % 2 == 1) return upper;
    const double lower = *std::max_element(values, values + mid);
    return (lower + upper) / 2.0;
}

}  // namespace

void robust_centre_scale(const double* trace, std::int64_t n, std::vector<double>& scratch,
                         double& centre, double& scale) {
    scratch.assign(trace, trace + n);
    centre = median_in_place(scratch.data(), n);
    for (std::int64_t t = 0; t < n; ++t) scratch[t] = std::fabs(trace[t] - centre);
    scale = kMadToSigma * median_in_place(scratch.data(), n);
    if (scale > 0.0) return;
    double sum = 0.0;
    for (std::int64_t t = 0; t < n; ++t) sum += trace[t];
    const double mean = sum / static_cast<double>(n);
    double squares = 0.0;
    for (std::int64_t t = 0; t < n; ++t) squares += (trace[t] - mean) * (trace[t] - mean);
    scale = std::sqrt(squares / static_cast<double>(n));
    if (!(scale > 0.0)) scale = 1.0;
}

}  // namespace calspike
