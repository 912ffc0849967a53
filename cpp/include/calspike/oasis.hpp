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

// A run of frames without spikes under AR(2) dynamics, c_t = g1 c_(t-1) + g2 c_(t-2):
// c[t + k] = h_k * first + g2 * h_(k-1) * (last value of the previous pool), with the
// impulse response h_k = (d^(k+1) - r^(k+1)) / (d - r) for the roots d > r of
// z^2 = g1 z + g2. Sums over d^k and r^k of the data let two pools merge in O(1).
struct Ar2Pool {
    double sum_d, sum_r;    // sum_k d^k y'[t + k], sum_k r^k y'[t + k]
    double power_d, power_r;  // d^l, r^l
    double first, last;     // calcium at frames t and t + l - 1
    std::int64_t t, l;
};

// Greedy OASIS for AR(2) (Friedrich et al. 2017, without the optional jitter step):
// approximately solves  min 1/2 |y - c|^2 + lambda * sum s  with s_t = c_t - g1 c_(t-1)
// - g2 c_(t-2) >= s_min or 0. The roots of z^2 = g1 z + g2 must be real, distinct (d - r
// >= 1e-6) and below 1 (checked by the caller). s_0 = s_1 = 0. Returns the pool count.
std::int64_t oasis_ar2(const double* y, std::int64_t n, double g1, double g2, double lambda, double s_min,
                       double* c, double* s, std::vector<Ar2Pool>& pools, std::vector<double>& scratch);

// The memory of oasis_ar2_exact's active-set iterations, reused from call to call: the
// caller owns it, one per thread (the core keeps no thread_local state).
struct ActiveSetWork {
    std::vector<std::uint8_t> active;  // constraint s_t >= 0 held with equality
    std::vector<std::int64_t> index;
    std::vector<double> nu, diagonal, lower1, lower2, rhs, shifted;
};

// The exact solution of the convex AR(2) problem  min 1/2 |y - c|^2 + lambda * sum_t s_t
// subject to s_t = c_t - g1 c_(t-1) - g2 c_(t-2) >= 0 for every t (c_(-1) = c_(-2) = 0):
// the greedy pools give a starting active set for primal-dual active-set iterations on
// the dual, a non-negative least squares with a pentadiagonal normal matrix (O(n) per
// iteration), which fall back to single least-index pivots if they stall. Returns the
// number of iterations, or -1 if the iteration limit was reached (c, s then hold the last
// feasible-looking iterate and the caller should report it). `pools`, `scratch` and `work`
// are the caller's scratch space (one set per thread).
std::int64_t oasis_ar2_exact(const double* y, std::int64_t n, double g1, double g2, double lambda, double* c,
                             double* s, std::vector<Ar2Pool>& pools, std::vector<double>& scratch,
                             ActiveSetWork& work);

// The smallest lambda >= 0 whose AR(2) solution (exact, or greedy when `exact` is false) has
// |y - c|^2 >= sn^2 * n, by safeguarded secant steps on lambda (at most 60 solves). Returns lambda.
double oasis_ar2_constrained(const double* y, std::int64_t n, double g1, double g2, double sn, bool exact,
                             double* c, double* s, std::vector<Ar2Pool>& pools, std::vector<double>& scratch,
                             ActiveSetWork& work);

// AR(2) coefficients (g1, g2) from the autocovariance at lags 0..12, noise-corrected
// Yule-Walker least squares; roots made real, clipped into (0, 1) and scaled by `fudge`.
void ar2_coefficients(const double* y, std::int64_t n, double sn, double fudge, double& g1, double& g2);

}  // namespace calspike
