#include "calspike/robust.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "calspike/parallel_rows.hpp"

namespace calspike {

namespace {

double median_in_place(double* values, std::int64_t n) {
    const std::int64_t mid = n / 2;
    std::nth_element(values, values + mid, values + n);
    const double upper = values[mid];
    if (n % 2 == 1) return upper;
    const double lower = *std::max_element(values, values + mid);
    return (lower + upper) / 2.0;
}

// One thread's memory, reused from row to row: the row widened to double, and the copy
// that the medians reorder.
struct RowScratch {
    std::vector<double> trace, sort;
};

// Row r's first n frames, widened to double.
template <class T>
void load_row(const MatrixView<T>& traces, std::int64_t r, std::int64_t n, std::vector<double>& out) {
    out.resize(static_cast<std::size_t>(n));
    for (std::int64_t t = 0; t < n; ++t) out[t] = static_cast<double>(traces(r, t));
}

}  // namespace

double percentile(const double* values, std::int64_t n, double q, std::vector<double>& scratch) {
    scratch.assign(values, values + n);
    const double position = q / 100.0 * static_cast<double>(n - 1);
    const auto lower = static_cast<std::int64_t>(std::floor(position));
    std::nth_element(scratch.begin(), scratch.begin() + lower, scratch.end());
    const double low = scratch[lower];
    if (lower + 1 >= n) return low;
    const double high = *std::min_element(scratch.begin() + lower + 1, scratch.end());
    return low + (high - low) * (position - static_cast<double>(lower));
}

double median(const double* values, std::int64_t n, std::vector<double>& scratch) {
    scratch.assign(values, values + n);
    return median_in_place(scratch.data(), n);
}

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

double standard_noise_level(const double* trace, std::int64_t n, double rate, std::vector<double>& scratch) {
    scratch.clear();
    for (std::int64_t t = 0; t + 1 < n; ++t) {
        const double step = std::fabs(trace[t + 1] - trace[t]);
        if (std::isfinite(step)) scratch.push_back(step);
    }
    if (scratch.empty()) return std::numeric_limits<double>::quiet_NaN();
    return median_in_place(scratch.data(), static_cast<std::int64_t>(scratch.size())) / std::sqrt(rate);
}

template <class T>
Buffer<float> robust_normalise_rows(const MatrixView<T>& traces, const std::vector<std::int64_t>& lengths,
                                    int threads) {
    Buffer<float> out(static_cast<std::size_t>(traces.rows * traces.cols));
    parallel_rows_with_scratch<RowScratch>(
        traces.rows, threads, RowSchedule::one_at_a_time, [&](std::int64_t r, RowScratch& scratch) {
            const std::int64_t n = lengths[static_cast<std::size_t>(r)];
            float* row = out.data() + r * traces.cols;
            if (n > 0) {
                load_row(traces, r, n, scratch.trace);
                const std::vector<double>& trace = scratch.trace;
                double centre = 0.0, scale = 1.0;
                robust_centre_scale(trace.data(), n, scratch.sort, centre, scale);
                for (std::int64_t t = 0; t < n; ++t) row[t] = static_cast<float>((trace[t] - centre) / scale);
            }
            for (std::int64_t t = n; t < traces.cols; ++t) row[t] = static_cast<float>(traces(r, t));
        });
    return out;
}

template <class T>
std::vector<double> robust_scales(const MatrixView<T>& traces, const std::vector<std::int64_t>& lengths,
                                  int threads) {
    std::vector<double> scales(static_cast<std::size_t>(traces.rows), 1.0);
    parallel_rows_with_scratch<RowScratch>(
        traces.rows, threads, RowSchedule::one_at_a_time, [&](std::int64_t r, RowScratch& scratch) {
            const std::int64_t n = lengths[static_cast<std::size_t>(r)];
            if (n == 0) return;
            load_row(traces, r, n, scratch.trace);
            const std::vector<double>& trace = scratch.trace;
            // medians of values with NaN among them are meaningless (nth_element's order)
            if (std::any_of(trace.begin(), trace.end(), [](double v) { return std::isnan(v); })) {
                scales[static_cast<std::size_t>(r)] = std::numeric_limits<double>::quiet_NaN();
                return;
            }
            double centre = 0.0, scale = 1.0;
            robust_centre_scale(trace.data(), n, scratch.sort, centre, scale);
            scales[static_cast<std::size_t>(r)] = scale;
        });
    return scales;
}

template <class T>
std::vector<double> standard_noise_levels(const MatrixView<T>& traces, const std::vector<std::int64_t>& lengths,
                                          double rate, int threads) {
    std::vector<double> levels(static_cast<std::size_t>(traces.rows));
    parallel_rows_with_scratch<RowScratch>(
        traces.rows, threads, RowSchedule::one_at_a_time, [&](std::int64_t r, RowScratch& scratch) {
            load_row(traces, r, lengths[static_cast<std::size_t>(r)], scratch.trace);
            const auto n = static_cast<std::int64_t>(scratch.trace.size());
            levels[static_cast<std::size_t>(r)] = standard_noise_level(scratch.trace.data(), n, rate, scratch.sort);
        });
    return levels;
}

template Buffer<float> robust_normalise_rows(const MatrixView<float>&, const std::vector<std::int64_t>&, int);
template Buffer<float> robust_normalise_rows(const MatrixView<double>&, const std::vector<std::int64_t>&, int);
template std::vector<double> robust_scales(const MatrixView<float>&, const std::vector<std::int64_t>&, int);
template std::vector<double> robust_scales(const MatrixView<double>&, const std::vector<std::int64_t>&, int);
template std::vector<double> standard_noise_levels(const MatrixView<float>&, const std::vector<std::int64_t>&,
                                                   double, int);
template std::vector<double> standard_noise_levels(const MatrixView<double>&, const std::vector<std::int64_t>&,
                                                   double, int);

}  // namespace calspike
