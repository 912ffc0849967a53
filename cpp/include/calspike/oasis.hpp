// OASIS deconvolution of AR(1) calcium traces (Friedrich, Zhou & Paninski 2017) and
// the estimation of its parameters. Plain C++ on one trace at a time.
#pragma once

#include <cstdint>
#include <vector>

namespace calspike {

// A run of frames whose calcium decays freely: c[t + k] = (v / w) * g^k.
struct OasisPool {
    double v;       // sum of g^k * y'[t + k]
    double w;       // sum of g^(2k); +inf once the pool is pinned at zero by c[0] >= 0
    double decay;   // g^l
    std::int64_t t; // first frame
    std::int64_t l; // frames
};

// Solves  min 1/2 |y - c|^2 + lambda * sum_t s_t  subject to  s_t = c_t - g c_(t-1) >= 0
// (s_0 = c_0 >= 0), with every non-zero s_t >= s_min for t >= 1 (s_min = 0: the convex
// problem, solved exactly). Writes the denoised calcium c and the spikes s (s_0 = 0: the
// first frame's calcium is the initial condition) for n >= 1 frames; 0 <= g < 1.
// `pools` is scratch space. Returns the number of pools.
std::int64_t oasis_ar1(const double* y, std::int64_t n, double g, double lambda, double s_min,
                       double* c, double* s, std::vector<OasisPool>& pools);

// The noise-constrained variant: the smallest lambda >= 0 with |y - c|^2 >= sn^2 * n
// (lambda = 0 when the unpenalised fit is already that far from y), found by OASIS's
// exact updates of lambda with the pools warm-started. Returns lambda.
double oasis_ar1_constrained(const double* y, std::int64_t n, double g, double sn, double* c,
                             double* s, std::vector<OasisPool>& pools, std::vector<double>& scratch);

// Noise standard deviation from the power spectral density (Welch: Hann windows of 256
// frames, half overlapping, constant detrending, as scipy.signal.welch) averaged over
// frequencies in (0.25, 0.5) cycles per frame: sqrt(mean(PSD / 2)).
double noise_level(const double* y, std::int64_t n, std::vector<double>& scratch);

// AR(1) coefficient from the autocovariance at lags 0..11, corrected for white noise of
// standard deviation sn (least squares over the Yule-Walker equations), clipped into
// (0, 1) and multiplied by `fudge` (< 1 shortens the estimated decay a little).
double ar1_coefficient(const double* y, std::int64_t n, double sn, double fudge);

// The q-th percentile (0..100, linear interpolation as numpy.percentile) of n values.
double percentile(const double* y, std::int64_t n, double q, std::vector<double>& scratch);

}  // namespace calspike
