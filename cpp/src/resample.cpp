#include "calspike/resample.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "calspike/parallel_rows.hpp"

namespace calspike {

namespace {

constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();

void check_rates(double rate_in, double rate_out) {
    if (!(rate_in > 0.0 && std::isfinite(rate_in)))
        throw std::invalid_argument("rate_in must be a positive, finite frame rate in Hz");
    if (!(rate_out > 0.0 && std::isfinite(rate_out)))
        throw std::invalid_argument("rate_out must be a positive, finite frame rate in Hz");
}

std::int64_t max_of(const std::vector<std::int64_t>& values) {
    std::int64_t most = 0;
    for (std::int64_t v : values) most = std::max(most, v);
    return most;
}

}  // namespace

std::int64_t resampled_length(std::int64_t frames, double rate_in, double rate_out) {
    check_rates(rate_in, rate_out);
    if (frames < 0) throw std::invalid_argument("frames must be >= 0");
    const double exact = static_cast<double>(frames) * rate_out / rate_in;
    if (!(exact < 0x1p62))  // past this the frame count (and its byte size) overflows int64
        throw std::invalid_argument("resampling " + std::to_string(frames) + " frames from " +
                                    std::to_string(rate_in) + " Hz to " + std::to_string(rate_out) +
                                    " Hz gives more frames than an array can hold");
    const double nearest = std::round(exact);
    if (std::abs(exact - nearest) <= 1e-9 * std::max(1.0, exact)) return static_cast<std::int64_t>(nearest);
    return static_cast<std::int64_t>(std::ceil(exact));
}

namespace {

// Output frames 0..m-1 of row r of resample_traces, from the row's first n frames.
template <class T>
void resample_row(const MatrixView<T>& traces, std::int64_t r, std::int64_t n, std::int64_t m, double step,
                  double half_width, float* row) noexcept {
    for (std::int64_t j = 0; j < m; ++j) {
        const double centre = (static_cast<double>(j) + 0.5) * step - 0.5;
        const auto first = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::ceil(centre - half_width)));
        const auto last = std::min<std::int64_t>(n - 1, static_cast<std::int64_t>(std::floor(centre + half_width)));
        double total = 0.0, weights = 0.0;
        for (std::int64_t k = first; k <= last; ++k) {
            const double w = 1.0 - std::abs(static_cast<double>(k) - centre) / half_width;
            if (w > 0.0) {
                total += w * static_cast<double>(traces(r, k));
                weights += w;
            }
        }
        if (weights <= 0.0) {  // centre beyond the last frame: hold the nearest frame
            total = static_cast<double>(traces(r, std::clamp<std::int64_t>(
                static_cast<std::int64_t>(std::llround(centre)), 0, n - 1)));
            weights = 1.0;
        }
        row[j] = static_cast<float>(total / weights);
    }
}

// Output frames 0..m-1 of row r of rebin_counts, from the row's first n counts.
template <class T>
void rebin_row(const MatrixView<T>& counts, std::int64_t r, std::int64_t n, std::int64_t m, double in_period,
               double out_period, float* row) {
    std::vector<double> sums(static_cast<std::size_t>(m), 0.0);
    const double end = std::min(static_cast<double>(n) * in_period, static_cast<double>(m) * out_period);
    std::int64_t j = 0;
    for (std::int64_t k = 0; k < n && j < m; ++k) {
        const double start = static_cast<double>(k) * in_period;
        const double stop = std::min(static_cast<double>(k + 1) * in_period, end);
        if (stop <= start) break;
        const double count = static_cast<double>(counts(r, k));
        const double per_second = count / (stop - start);
        // Output frames overlapping [start, stop); j never moves back.
        while (j < m && static_cast<double>(j + 1) * out_period <= start) ++j;
        for (std::int64_t i = j; i < m; ++i) {
            const double lo = std::max(start, static_cast<double>(i) * out_period);
            const double hi = std::min(stop, static_cast<double>(i + 1) * out_period);
            if (hi <= lo) {
                if (static_cast<double>(i) * out_period >= stop) break;
                continue;
            }
            sums[static_cast<std::size_t>(i)] += per_second * (hi - lo);
        }
    }
    for (std::int64_t i = 0; i < m; ++i) row[i] = static_cast<float>(sums[static_cast<std::size_t>(i)]);
}

}  // namespace

template <class T>
Buffer<float> resample_traces(const MatrixView<T>& traces, const std::vector<std::int64_t>& lengths,
                              double rate_in, double rate_out, std::vector<std::int64_t>& out_lengths,
                              int threads) {
    check_rates(rate_in, rate_out);
    const std::int64_t rows = traces.rows;
    out_lengths.assign(static_cast<std::size_t>(rows), 0);
    for (std::int64_t r = 0; r < rows; ++r)
        out_lengths[static_cast<std::size_t>(r)] = resampled_length(lengths[static_cast<std::size_t>(r)], rate_in, rate_out);
    const std::int64_t width = max_of(out_lengths);
    Buffer<float> out(static_cast<std::size_t>(rows * width));
    float* dest = out.data();
    const double step = rate_in / rate_out;              // input frames per output frame
    const double half_width = std::max(1.0, step);       // of the triangle, in input frames
    parallel_rows(rows, threads, RowSchedule::one_at_a_time, [&](std::int64_t r) {
        const std::int64_t m = out_lengths[static_cast<std::size_t>(r)];
        float* row = dest + r * width;
        resample_row(traces, r, lengths[static_cast<std::size_t>(r)], m, step, half_width, row);
        std::fill(row + m, row + width, kNaNf);
    });
    return out;
}

template <class T>
Buffer<float> rebin_counts(const MatrixView<T>& counts, const std::vector<std::int64_t>& lengths,
                           double rate_in, double rate_out, const std::vector<std::int64_t>& out_lengths,
                           int threads) {
    check_rates(rate_in, rate_out);
    const std::int64_t rows = counts.rows;
    if (static_cast<std::int64_t>(out_lengths.size()) != rows)
        throw std::invalid_argument("out_lengths must have one entry per row");
    for (std::int64_t v : out_lengths)
        if (v < 0) throw std::invalid_argument("out_lengths must be >= 0");
    const std::int64_t width = max_of(out_lengths);
    Buffer<float> out(static_cast<std::size_t>(rows * width));
    float* dest = out.data();
    const double in_period = 1.0 / rate_in, out_period = 1.0 / rate_out;
    parallel_rows(rows, threads, RowSchedule::one_at_a_time, [&](std::int64_t r) {
        const std::int64_t m = out_lengths[static_cast<std::size_t>(r)];
        float* row = dest + r * width;
        rebin_row(counts, r, lengths[static_cast<std::size_t>(r)], m, in_period, out_period, row);
        std::fill(row + m, row + width, kNaNf);
    });
    return out;
}

template Buffer<float> resample_traces<float>(const MatrixView<float>&, const std::vector<std::int64_t>&, double,
                                              double, std::vector<std::int64_t>&, int);
template Buffer<float> resample_traces<double>(const MatrixView<double>&, const std::vector<std::int64_t>&, double,
                                               double, std::vector<std::int64_t>&, int);
template Buffer<float> rebin_counts<float>(const MatrixView<float>&, const std::vector<std::int64_t>&, double,
                                           double, const std::vector<std::int64_t>&, int);
template Buffer<float> rebin_counts<double>(const MatrixView<double>&, const std::vector<std::int64_t>&, double,
                                            double, const std::vector<std::int64_t>&, int);

}  // namespace calspike
