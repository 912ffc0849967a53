// OASIS for AR(1) (Friedrich, Zhou & Paninski 2017, PLoS Comput Biol 13:e1005423) and the
// estimation of its parameters.
#include "calspike/oasis.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>

namespace calspike {

namespace {

constexpr double kPinned = std::numeric_limits<double>::infinity();  // weight of a pool held at 0
constexpr double kPi = 3.14159265358979323846;
constexpr int kMaxLambdaUpdates = 200;

inline double value(const OasisPool& pool) noexcept { return pool.v / pool.w; }

// Merges pool `last` into `prev`: their frames now decay from one start value.
inline void merge(OasisPool& prev, const OasisPool& last) noexcept {
    prev.v += last.v * prev.decay;
    prev.w += last.w * prev.decay * prev.decay;
    prev.decay *= last.decay;
    prev.l += last.l;
}

// Restores the constraints among pools[0..size) after pools[size - 1] was added or
// changed: merges backwards while a pool starts below s_min above its predecessor's
// end, and pins the first pool at zero (c_0 >= 0) when its value turns negative.
// True when `last` starts below s_min above the end of `prev`, i.e. when
// last.v / last.w < prev.v / prev.w * prev.decay + s_min, compared without dividing
// (weights are positive; a pinned pool's value is 0).
inline bool violates(const OasisPool& prev, const OasisPool& last, double s_min) noexcept {
    if (prev.w == kPinned) return last.v < s_min * last.w;
    return last.v * prev.w < (prev.v * prev.decay + s_min * prev.w) * last.w;
}

inline std::size_t settle(std::vector<OasisPool>& pools, std::size_t size, double s_min) noexcept {
    while (size > 1 && violates(pools[size - 2], pools[size - 1], s_min)) {
        merge(pools[size - 2], pools[size - 1]);
        --size;
    }
    if (size == 1 && pools[0].v < 0.0) pools[0].w = kPinned;
    return size;
}

// Re-establishes all constraints after every pool's value moved (a change of lambda).
std::size_t settle_all(std::vector<OasisPool>& pools, double s_min) noexcept {
    std::size_t size = 0;
    for (std::size_t i = 0; i < pools.size(); ++i) {
        pools[size++] = pools[i];
        size = settle(pools, size, s_min);
    }
    pools.resize(size);
    return size;
}

// c and s from the pools; s_0 = 0, and s is exactly 0 inside a pool.
void write_solution(const std::vector<OasisPool>& pools, double g, double* c, double* s) noexcept {
    for (std::size_t j = 0; j < pools.size(); ++j) {
        const OasisPool& pool = pools[j];
        double level = std::max(value(pool), 0.0);
        for (std::int64_t k = 0; k < pool.l; ++k) {
            c[pool.t + k] = level;
            s[pool.t + k] = 0.0;
            level *= g;
        }
        if (j > 0) s[pool.t] = c[pool.t] - g * c[pool.t - 1];
    }
}

double squared_residual(const double* y, const double* c, std::int64_t n, double* residual) noexcept {
    double sum = 0.0;
    for (std::int64_t t = 0; t < n; ++t) {
        residual[t] = y[t] - c[t];
        sum += residual[t] * residual[t];
    }
    return sum;
}

// In-place radix-2 FFT of a power-of-two length.
void fft(std::vector<std::complex<double>>& a) {
    const std::size_t n = a.size();
    for (std::size_t i = 1, j = 0; i < n; ++i) {
        std::size_t bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) std::swap(a[i], a[j]);
    }
    for (std::size_t len = 2; len <= n; len <<= 1) {
        const std::complex<double> step = std::polar(1.0, -2.0 * kPi / static_cast<double>(len));
        for (std::size_t i = 0; i < n; i += len) {
            std::complex<double> twiddle = 1.0;
            for (std::size_t k = 0; k < len / 2; ++k) {
                const std::complex<double> even = a[i + k], odd = a[i + k + len / 2] * twiddle;
                a[i + k] = even + odd;
                a[i + k + len / 2] = even - odd;
                twiddle *= step;
            }
        }
    }
}

}  // namespace

std::int64_t oasis_ar1(const double* y, std::int64_t n, double g, double lambda, double s_min,
                       double* c, double* s, std::vector<OasisPool>& pools) {
    pools.resize(static_cast<std::size_t>(n));
    // The penalty lambda * sum(s) equals lambda * (sum over t < n-1 of (1 - g) c_t, plus c_(n-1)):
    // it shifts the data down by lambda * (1 - g), and the last frame by lambda.
    const double shift = lambda * (1.0 - g);
    std::size_t size = 0;
    for (std::int64_t t = 0; t < n; ++t) {
        pools[size++] = OasisPool{y[t] - (t == n - 1 ? lambda : shift), 1.0, g, t, 1};
        size = settle(pools, size, s_min);
    }
    pools.resize(size);
    write_solution(pools, g, c, s);
    return static_cast<std::int64_t>(size);
}

double oasis_ar1_constrained(const double* y, std::int64_t n, double g, double sn, double* c,
                             double* s, std::vector<OasisPool>& pools, std::vector<double>& scratch) {
    scratch.resize(static_cast<std::size_t>(2 * n));
    double* residual = scratch.data();
    double* slope = residual + n;  // -dc/dlambda with the pools held fixed
    const double target = sn * sn * static_cast<double>(n);
    oasis_ar1(y, n, g, 0.0, 0.0, c, s, pools);
    double rss = squared_residual(y, c, n, residual);
    double lambda = 0.0;
    for (int update = 0; update < kMaxLambdaUpdates && rss < target * (1.0 - 1e-4); ++update) {
        double total = 0.0;
        for (std::int64_t t = 0; t < n; ++t) total += c[t];
        if (total <= 1e-9) break;  // no spikes left to remove
        for (std::size_t j = 0; j < pools.size(); ++j) {
            const OasisPool& pool = pools[j];
            double rate = (j + 1 == pools.size() ? 1.0 : 1.0 - pool.decay) / pool.w;
            if (value(pool) <= 0.0) rate = 0.0;  // clipped at zero: does not move
            for (std::int64_t k = 0; k < pool.l; ++k) {
                slope[pool.t + k] = rate;
                rate *= g;
            }
        }
        // |residual + dlambda * slope|^2 = target, solved for dlambda > 0
        double aa = 0.0, bb = 0.0;
        for (std::int64_t t = 0; t < n; ++t) {
            aa += slope[t] * slope[t];
            bb += residual[t] * slope[t];
        }
        const double discriminant = bb * bb - aa * (rss - target);
        if (!(aa > 0.0) || !(discriminant >= 0.0)) break;
        const double step = (-bb + std::sqrt(discriminant)) / aa;
        if (!(step > 0.0)) break;
        lambda += step;
        for (std::size_t j = 0; j < pools.size(); ++j) {
            pools[j].v -= step * (j + 1 == pools.size() ? 1.0 : 1.0 - pools[j].decay);
        }
        settle_all(pools, 0.0);
        write_solution(pools, g, c, s);
        rss = squared_residual(y, c, n, residual);
    }
    return lambda;
}

double noise_level(const double* y, std::int64_t n, std::vector<double>& scratch) {
    const std::int64_t segment = std::min<std::int64_t>(256, n);
    const std::int64_t step = segment - segment / 2;
    const std::int64_t first_bin = segment / 4 + 1;  // frequencies strictly inside (0.25, 0.5)
    const std::int64_t end_bin = (segment + 1) / 2;
    if (n < 4 || end_bin <= first_bin) {
        // too short for a spectrum: the first differences' robust spread
        scratch.resize(static_cast<std::size_t>(std::max<std::int64_t>(n - 1, 1)));
        if (n < 2) return 0.0;
        for (std::int64_t t = 1; t < n; ++t) scratch[t - 1] = std::fabs(y[t] - y[t - 1]);
        std::nth_element(scratch.begin(), scratch.begin() + (n - 1) / 2, scratch.begin() + (n - 1));
        return scratch[(n - 1) / 2] / (0.6744897501960817 * std::sqrt(2.0));
    }
    std::vector<double> window(static_cast<std::size_t>(segment));
    double window_power = 0.0;
    for (std::int64_t k = 0; k < segment; ++k) {  // periodic Hann, as scipy's get_window
        window[k] = 0.5 - 0.5 * std::cos(2.0 * kPi * static_cast<double>(k) / static_cast<double>(segment));
        window_power += window[k] * window[k];
    }
    const bool power_of_two = (segment & (segment - 1)) == 0;
    std::vector<std::complex<double>> spectrum(static_cast<std::size_t>(segment));
    scratch.assign(static_cast<std::size_t>(end_bin), 0.0);
    const std::int64_t segments = (n - segment) / step + 1;
    for (std::int64_t m = 0; m < segments; ++m) {
        const double* x = y + m * step;
        double mean = 0.0;
        for (std::int64_t k = 0; k < segment; ++k) mean += x[k];
        mean /= static_cast<double>(segment);
        for (std::int64_t k = 0; k < segment; ++k) spectrum[k] = (x[k] - mean) * window[k];
        if (power_of_two) {
            fft(spectrum);
        } else {  // short traces only: a direct DFT of the bins needed
            std::vector<std::complex<double>> input(spectrum);
            for (std::int64_t f = first_bin; f < end_bin; ++f) {
                std::complex<double> sum = 0.0;
                for (std::int64_t k = 0; k < segment; ++k)
                    sum += input[k] * std::polar(1.0, -2.0 * kPi * static_cast<double>(f * k % segment) /
                                                          static_cast<double>(segment));
                spectrum[f] = sum;
            }
        }
        for (std::int64_t f = first_bin; f < end_bin; ++f) scratch[f] += std::norm(spectrum[f]);
    }
    // one-sided density: 2 |X|^2 / sum(w^2), averaged over segments; sn^2 = mean(PSD / 2)
    double mean_power = 0.0;
    for (std::int64_t f = first_bin; f < end_bin; ++f) mean_power += scratch[f];
    mean_power /= static_cast<double>((end_bin - first_bin) * segments) * window_power;
    return std::sqrt(mean_power);
}

double ar1_coefficient(const double* y, std::int64_t n, double sn, double fudge) {
    constexpr std::int64_t kLags = 11;
    if (n <= kLags + 1) return 0.95 * fudge;
    double mean = 0.0;
    for (std::int64_t t = 0; t < n; ++t) mean += y[t];
    mean /= static_cast<double>(n);
    double autocovariance[kLags + 1];
    for (std::int64_t lag = 0; lag <= kLags; ++lag) {
        double sum = 0.0;
        for (std::int64_t t = lag; t < n; ++t) sum += (y[t] - mean) * (y[t - lag] - mean);
        autocovariance[lag] = sum / static_cast<double>(n);
    }
    // Yule-Walker, least squares: (xc[i] - sn^2 [i == 0]) g = xc[i + 1], i = 0..10
    double numerator = 0.0, denominator = 0.0;
    for (std::int64_t lag = 0; lag < kLags; ++lag) {
        const double a = autocovariance[lag] - (lag == 0 ? sn * sn : 0.0);
        numerator += a * autocovariance[lag + 1];
        denominator += a * a;
    }
    double g = denominator > 0.0 ? numerator / denominator : 0.95;
    if (!(g > 0.0)) g = 0.15;  // OASIS's fallbacks for roots outside (0, 1)
    if (g >= 1.0) g = 0.95;
    return g * fudge;
}

double percentile(const double* y, std::int64_t n, double q, std::vector<double>& scratch) {
    scratch.assign(y, y + n);
    const double position = q / 100.0 * static_cast<double>(n - 1);
    const auto lower = static_cast<std::int64_t>(std::floor(position));
    std::nth_element(scratch.begin(), scratch.begin() + lower, scratch.end());
    const double low = scratch[lower];
    if (lower + 1 >= n) return low;
    const double high = *std::min_element(scratch.begin() + lower + 1, scratch.end());
    return low + (high - low) * (position - static_cast<double>(lower));
}

}  // namespace calspike
