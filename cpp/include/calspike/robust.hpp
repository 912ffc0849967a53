// Robust statistics of traces, in one place: percentile, median, the MAD-to-sigma
// constant, a trace's robust centre and scale, and the standard noise level. Used by
// partition(normalize="neuron"), the spike-rate model's input normalisation and OASIS.
#pragma once

#include <cstdint>
#include <vector>

#include "calspike/buffer.hpp"
#include "calspike/matrix.hpp"

namespace calspike {

// 1 / Phi^-1(3/4): MAD x this estimates the standard deviation of Gaussian noise.
inline constexpr double kMadToSigma = 1.482602218505602;

// The q-th percentile (0..100, linear interpolation as numpy.percentile) of n > 0 values.
double percentile(const double* values, std::int64_t n, double q, std::vector<double>& scratch);

// The median of n > 0 values (numpy.median).
double median(const double* values, std::int64_t n, std::vector<double>& scratch);

// Robust centre and scale of one trace of n > 0 values: the median and kMadToSigma * MAD.
// Falls back to the population std when more than half of the trace is one value
// (MAD = 0), and to 1 for a constant trace, so the scale is always finite and > 0.
void robust_centre_scale(const double* trace, std::int64_t n, std::vector<double>& scratch,
                         double& centre, double& scale);

// The standard noise level of one trace: median |y[t+1] - y[t]| / sqrt(rate), in the trace's
// units per sqrt(Hz) (x 100 is CASCADE's percent for dF/F). Differences that are not finite
// (next to a dropped, NaN frame) are left out; NaN when none is left.
double standard_noise_level(const double* trace, std::int64_t n, double rate, std::vector<double>& scratch);

// Every row's first lengths[r] frames as (x - centre) / scale (robust_centre_scale), float32
// (rows, cols); frames beyond a row's length keep their values (padding). Rows with NaN
// inside their length give NaN rows. Parallel over rows.
template <class T>
Buffer<float> robust_normalise_rows(const MatrixView<T>& traces, const std::vector<std::int64_t>& lengths,
                                    int threads);

// The scale of robust_centre_scale of every row's first lengths[r] frames (the divisor of
// robust_normalise_rows), in parallel over rows; 1 for an empty row, NaN for a row with NaN
// inside its length.
template <class T>
std::vector<double> robust_scales(const MatrixView<T>& traces, const std::vector<std::int64_t>& lengths,
                                  int threads);

// standard_noise_level of every row's first lengths[r] frames, in parallel over rows.
template <class T>
std::vector<double> standard_noise_levels(const MatrixView<T>& traces, const std::vector<std::int64_t>& lengths,
                                          double rate, int threads);

}  // namespace calspike
