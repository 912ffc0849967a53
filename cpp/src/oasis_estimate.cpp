// Estimation of OASIS's parameters: noise level, AR coefficients, baseline.
#include "calspike/oasis.hpp"
#include "calspike/robust.hpp"

#include <algorithm>
#include <cmath>
#include <complex>

namespace calspike {

namespace {

constexpr double kPi = 3.14159265358979323846;

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

// Biased autocovariances of the mean-removed trace at lags 0..max_lag, into out[0..max_lag].
void autocovariances(const double* y, std::int64_t n, std::int64_t max_lag, double* out) noexcept {
    double mean = 0.0;
    for (std::int64_t t = 0; t < n; ++t) mean += y[t];
    mean /= static_cast<double>(n);
    for (std::int64_t lag = 0; lag <= max_lag; ++lag) {
        double sum = 0.0;
        for (std::int64_t t = lag; t < n; ++t) sum += (y[t] - mean) * (y[t - lag] - mean);
        out[lag] = sum / static_cast<double>(n);
    }
}

}  // namespace

void ar2_coefficients(const double* y, std::int64_t n, double sn, double fudge, double& g1, double& g2) {
    constexpr std::int64_t kLags = 12;
    double roots[2] = {0.95, 0.15};
    if (n > kLags + 1) {
        double xc[kLags + 1];
        autocovariances(y, n, kLags, xc);
        // rows i = 0..11: [xc_i - sn^2 [i == 0], xc_|i-1| - sn^2 [i == 1]] (g1, g2) = xc_(i+1)
        double a11 = 0.0, a12 = 0.0, a22 = 0.0, b1 = 0.0, b2 = 0.0;
        for (std::int64_t i = 0; i < kLags; ++i) {
            const double u = xc[i] - (i == 0 ? sn * sn : 0.0);
            const double v = xc[i == 0 ? 1 : i - 1] - (i == 1 ? sn * sn : 0.0);
            a11 += u * u;
            a12 += u * v;
            a22 += v * v;
            b1 += u * xc[i + 1];
            b2 += v * xc[i + 1];
        }
        const double det = a11 * a22 - a12 * a12;
        if (det != 0.0 && std::isfinite(det)) {
            const double c1 = (a22 * b1 - a12 * b2) / det, c2 = (a11 * b2 - a12 * b1) / det;
            const double discriminant = c1 * c1 + 4.0 * c2;
            const double spread = discriminant > 0.0 ? std::sqrt(discriminant) : 0.0;  // complex: real parts
            roots[0] = (c1 + spread) / 2.0;
            roots[1] = (c1 - spread) / 2.0;
        }
    }
    for (double& root : roots) {  // OASIS's fallbacks, without its random jitter
        if (!(root < 1.0)) root = 0.95;
        if (!(root > 0.0)) root = 0.15;
        root *= fudge;
    }
    if (roots[0] - roots[1] < 1e-3) roots[1] = roots[0] - 1e-3;  // keep the roots distinct
    g1 = roots[0] + roots[1];
    g2 = -roots[0] * roots[1];
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
    double autocovariance[kLags + 1];
    autocovariances(y, n, kLags, autocovariance);
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

}  // namespace calspike
