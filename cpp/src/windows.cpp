#include "calspike/windows.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "calspike/parallel_rows.hpp"
#include "calspike/robust.hpp"
#include "calspike/threads.hpp"
#include "calspike/zscore.hpp"


namespace calspike {

namespace {

constexpr std::int64_t kMaxSide = std::int64_t{1} << 24;  // frames on either side of i

void require(bool ok, const std::string& message) {
    if (!ok) throw std::invalid_argument(message);
}

// What went wrong in one neuron, recorded by the thread that filled it.
struct NeuronProblem {
    std::int64_t frame = -1;  // -1: no problem
    const char* what = "";
};

// Per-thread scratch space, reused across the neurons a thread fills.
struct Scratch {
    std::vector<double> trace;
    std::vector<float> trace_f32;
    std::vector<double> sort;
    std::vector<double> window;  // for window lengths other than 20
};

// The first frame whose value fails `ok`, or -1. The counting pass vectorises;
// the search runs only when something failed.
template <class T, class Ok>
std::int64_t first_failure(const T* values, std::int64_t step, std::int64_t length, Ok ok) {
    std::int64_t passed = 0;
    if (step == 1) {
        for (std::int64_t t = 0; t < length; ++t) passed += ok(values[t]) ? 1 : 0;
    } else {
        for (std::int64_t t = 0; t < length; ++t) passed += ok(values[t * step]) ? 1 : 0;
    }
    if (passed == length) return -1;
    for (std::int64_t t = 0; t < length; ++t)
        if (!ok(values[t * step])) return t;
    return -1;
}

template <class T>
bool is_finite(T x) noexcept {  // false for NaN (every comparison fails) and for +-inf
    return std::fabs(x) <= std::numeric_limits<T>::max();
}

template <class T>
bool is_count(T x) noexcept {  // a spike count: finite and >= 0 (branch-free, so it vectorises)
    return (x >= T(0)) & (x <= std::numeric_limits<T>::max());
}

template <class S>
NeuronProblem check_spikes(const MatrixView<S>& spikes, std::int64_t row, std::int64_t length) {
    const S* src = spikes.data + row * spikes.row_stride;
    const std::int64_t bad = first_failure(src, spikes.col_stride, length, is_count<S>);
    if (bad < 0) return {};
    return {bad, is_finite(src[bad * spikes.col_stride]) ? "spikes is negative" : "spikes is NaN or infinite"};
}

// did_spike[k]: any spike in frames i - spike_n .. i + spike_n - 1, i = len_pre + k * skip.
template <class S, class Step>
void label_windows(const S* counts, Step step, std::int64_t count, const WindowSpec& spec,
                   std::uint8_t* did_spike) noexcept {
    const std::int64_t span = 2 * spec.spike_n;
    const S* near = counts + (spec.len_pre - spec.spike_n) * step;
    for (std::int64_t k = 0; k < count; ++k, near += spec.skip * step) {
        S largest = near[0];
        for (std::int64_t j = 1; j < span; ++j) largest = std::max(largest, near[j * step]);
        did_spike[k] = largest > S(0) ? 1 : 0;
    }
}

template <class C, class S>
NeuronProblem fill_neuron(const MatrixView<C>& calcium, const MatrixView<S>* spikes,
                          std::int64_t row, std::int64_t length, std::int64_t first,
                          std::int64_t count, const WindowSpec& spec, Partition& out,
                          Scratch& scratch) {
    const C* source = calcium.data + row * calcium.row_stride;
    const bool contiguous = calcium.col_stride == 1;
    const std::int64_t bad = first_failure(source, calcium.col_stride, length, is_finite<C>);
    if (bad >= 0) return {bad, "calcium is NaN or infinite"};
    if (spikes != nullptr) {
        const NeuronProblem problem = check_spikes(*spikes, row, length);
        if (problem.frame >= 0) return problem;
    }
    if (count == 0) return {};

    const std::int64_t window_length = spec.length();
    float* windows = out.windows.data() + first * window_length;
    if (spec.normalization == Normalization::window && contiguous) {
        zscore_windows(source, count, spec.skip, window_length, windows, scratch.window);
    } else if (spec.normalization == Normalization::none && contiguous && std::is_same<C, float>::value) {
        for (std::int64_t k = 0; k < count; ++k) {  // window k starts at frame k * skip
            std::memcpy(windows + k * window_length, source + k * spec.skip,
                        static_cast<std::size_t>(window_length) * sizeof(float));
        }
    } else {
        // Strided input, or a whole-trace transform: one contiguous double copy first.
        std::vector<double>& trace = scratch.trace;
        trace.resize(static_cast<std::size_t>(length));
        for (std::int64_t t = 0; t < length; ++t) trace[t] = static_cast<double>(source[t * calcium.col_stride]);
        if (spec.normalization == Normalization::window) {
            zscore_windows(trace.data(), count, spec.skip, window_length, windows, scratch.window);
        } else {
            double centre = 0.0, scale = 1.0;
            if (spec.normalization == Normalization::neuron) {
                robust_centre_scale(trace.data(), length, scratch.sort, centre, scale);
            }
            std::vector<float>& narrow = scratch.trace_f32;
            narrow.resize(static_cast<std::size_t>(length));
            for (std::int64_t t = 0; t < length; ++t) {
                narrow[t] = static_cast<float>(spec.normalization == Normalization::neuron
                                                   ? (trace[t] - centre) / scale
                                                   : trace[t]);
            }
            for (std::int64_t k = 0; k < count; ++k) {
                std::memcpy(windows + k * window_length, narrow.data() + k * spec.skip,
                            static_cast<std::size_t>(window_length) * sizeof(float));
            }
        }
    }

    std::int32_t* neuron = out.neuron.data() + first;
    std::int64_t* frame = out.frame.data() + first;
    for (std::int64_t k = 0; k < count; ++k) {
        neuron[k] = static_cast<std::int32_t>(row);
        frame[k] = spec.len_pre + k * spec.skip;
    }
    if (spikes != nullptr) {
        const S* counts = spikes->data + row * spikes->row_stride;
        std::uint8_t* did_spike = out.did_spike.data() + first;
        if (spikes->col_stride == 1) label_windows(counts, 1, count, spec, did_spike);
        else label_windows(counts, spikes->col_stride, count, spec, did_spike);
    }
    return {};
}

}  // namespace

void check_spec(const WindowSpec& spec) {
    require(spec.len_pre >= 1 && spec.len_pre <= kMaxSide,
            "len_pre must be in [1, " + std::to_string(kMaxSide) + "], got " +
                std::to_string(spec.len_pre));
    require(spec.len_post >= 1 && spec.len_post <= kMaxSide,
            "len_post must be in [1, " + std::to_string(kMaxSide) + "], got " +
                std::to_string(spec.len_post));
    require(spec.skip >= 1, "skip must be >= 1, got " + std::to_string(spec.skip));
    const std::int64_t most = std::min(spec.len_pre, spec.len_post);
    require(spec.spike_n >= 1 && spec.spike_n <= most,
            "spike_n must be in [1, min(len_pre, len_post)] = [1, " + std::to_string(most) +
                "], got " + std::to_string(spec.spike_n));
}

std::int64_t window_count(std::int64_t valid_length, const WindowSpec& spec) noexcept {
    const std::int64_t end = valid_length - spec.len_post;  // exclusive, as in range()
    if (end <= spec.len_pre) return 0;
    return (end - spec.len_pre + spec.skip - 1) / spec.skip;
}

template <class T>
std::vector<std::int64_t> valid_lengths(const MatrixView<T>& matrix) {
    std::vector<std::int64_t> lengths(static_cast<std::size_t>(matrix.rows));
    for (std::int64_t r = 0; r < matrix.rows; ++r) {
        std::int64_t t = matrix.cols;
        while (t > 0 && std::isnan(static_cast<double>(matrix(r, t - 1)))) --t;
        lengths[r] = t;
    }
    return lengths;
}

// Work units for the threads: runs of consecutive neurons, unit u holding neurons
// unit_start[u] .. unit_start[u + 1] - 1. A unit's windows fill about 16 MiB, or less when
// that would leave fewer than 8 units per thread. Neuron by neuron, two threads often
// first-touched the same 2 MiB huge page of the outputs and both faulted on it (1,600
// page faults instead of 900 for 2,000 x 100,000 frames at skip=10, and about 8 % slower).
static std::vector<std::int64_t> work_units(const std::vector<std::int64_t>& first,
                                            std::int64_t window_length, int thread_count) {
    const std::int64_t neurons = static_cast<std::int64_t>(first.size()) - 1;
    const std::int64_t bytes_per_window = window_length * static_cast<std::int64_t>(sizeof(float));
    const std::int64_t total_bytes = first[neurons] * bytes_per_window;
    const std::int64_t unit_bytes = std::min<std::int64_t>(std::int64_t{16} << 20, total_bytes / (8 * thread_count));
    std::vector<std::int64_t> unit_start{0};
    for (std::int64_t r = 0; r < neurons; ++r) {
        if ((first[r + 1] - first[unit_start.back()]) * bytes_per_window >= unit_bytes) unit_start.push_back(r + 1);
    }
    if (unit_start.back() != neurons) unit_start.push_back(neurons);
    return unit_start;
}

template <class C, class S>
Partition partition(const MatrixView<C>& calcium, const MatrixView<S>* spikes,
                    const std::vector<std::int64_t>& lengths, const WindowSpec& spec,
                    int threads) {
    check_spec(spec);
    const std::int64_t neurons = calcium.rows;
    require(static_cast<std::int64_t>(lengths.size()) == neurons,
            "lengths must have one entry per neuron (" + std::to_string(neurons) + "), got " +
                std::to_string(lengths.size()));
    require(neurons <= std::numeric_limits<std::int32_t>::max(),
            "at most 2**31 - 1 neurons fit the int32 neuron index");
    if (spikes != nullptr) {
        require(spikes->rows == calcium.rows && spikes->cols == calcium.cols,
                "spikes must have the shape of calcium");
    }

    std::vector<std::int64_t> first(static_cast<std::size_t>(neurons) + 1, 0);
    Partition out;
    for (std::int64_t r = 0; r < neurons; ++r) {
        require(lengths[r] >= 0 && lengths[r] <= calcium.cols,
                "lengths[" + std::to_string(r) + "] must be in [0, " +
                    std::to_string(calcium.cols) + "], got " + std::to_string(lengths[r]));
        const std::int64_t count = window_count(lengths[r], spec);
        if (count == 0) out.skipped.push_back(r);
        first[r + 1] = first[r] + count;
    }
    out.count = first[neurons];
    out.length = spec.length();
    require(out.count <= std::numeric_limits<std::int64_t>::max() / out.length,
            "the output would have more than 2**63 values");
    out.windows = Buffer<float>(static_cast<std::size_t>(out.count * out.length));
    out.neuron = Buffer<std::int32_t>(static_cast<std::size_t>(out.count));
    out.frame = Buffer<std::int64_t>(static_cast<std::size_t>(out.count));
    if (spikes != nullptr) out.did_spike = Buffer<std::uint8_t>(static_cast<std::size_t>(out.count));

    const int thread_count = resolve_threads(threads);
    const std::vector<std::int64_t> unit_start = work_units(first, out.length, thread_count);
    const std::int64_t units = static_cast<std::int64_t>(unit_start.size()) - 1;

    std::vector<NeuronProblem> problems(static_cast<std::size_t>(neurons));
    // One unit at a time: traces differ in length, and each thread first-touches the output
    // pages of the units it fills. A unit stops at its first failing neuron, so the lowest
    // failing unit holds the lowest failing neuron.
    parallel_rows_with_scratch<Scratch>(
        units, thread_count, RowSchedule::one_at_a_time, [&](std::int64_t u, Scratch& scratch) {
            for (std::int64_t r = unit_start[u]; r < unit_start[u + 1]; ++r) {
                problems[r] = fill_neuron(calcium, spikes, r, lengths[r], first[r],
                                          first[r + 1] - first[r], spec, out, scratch);
            }
        });
    for (std::int64_t r = 0; r < neurons; ++r) {
        if (problems[r].frame >= 0) {
            throw std::invalid_argument(std::string(problems[r].what) + " at neuron " +
                                        std::to_string(r) + ", frame " +
                                        std::to_string(problems[r].frame) +
                                        ", inside its valid length " + std::to_string(lengths[r]));
        }
    }
    return out;
}

#define CALSPIKE_INSTANTIATE(C, S)                                                             \
    template Partition partition<C, S>(const MatrixView<C>&, const MatrixView<S>*,              \
                                       const std::vector<std::int64_t>&, const WindowSpec&, int);
CALSPIKE_INSTANTIATE(float, float)
CALSPIKE_INSTANTIATE(float, double)
CALSPIKE_INSTANTIATE(double, float)
CALSPIKE_INSTANTIATE(double, double)
#undef CALSPIKE_INSTANTIATE
template std::vector<std::int64_t> valid_lengths<float>(const MatrixView<float>&);
template std::vector<std::int64_t> valid_lengths<double>(const MatrixView<double>&);

}  // namespace calspike
