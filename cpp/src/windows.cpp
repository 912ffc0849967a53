#include "calspike/windows.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>

#include "calspike/pairwise_sum.hpp"
#include "calspike/threads.hpp"

namespace calspike {

namespace {

constexpr std::int64_t kMaxSide = std::int64_t{1} << 24;  // frames on either side of i
constexpr double kWindowEpsilon = 1e-7;                    // the tutorial's std offset
constexpr double kMadToSigma = 1.482602218505602;          // 1 / Phi^-1(3/4)

void require(bool ok, const std::string& message) {
    if (!ok) throw std::invalid_argument(message);
}

// What went wrong in one neuron, recorded by the thread that filled it.
struct NeuronProblem {
    std::int64_t frame = -1;  // -1: no problem
    const char* what = "";
};

// (x - mean(x)) / (std(x) + 1e-7) for one window, exactly as NumPy computes it.
inline void normalise_window(const double* window, std::int64_t length, double* deviation,
                             double* squared, float* out) noexcept {
    const double n = static_cast<double>(length);
    const double mean = pairwise_sum(window, length) / n;
    for (std::int64_t j = 0; j < length; ++j) deviation[j] = window[j] - mean;
    for (std::int64_t j = 0; j < length; ++j) squared[j] = deviation[j] * deviation[j];
    const double denominator = std::sqrt(pairwise_sum(squared, length) / n) + kWindowEpsilon;
    for (std::int64_t j = 0; j < length; ++j) out[j] = static_cast<float>(deviation[j] / denominator);
}

double median_in_place(double* values, std::int64_t n) {
    const std::int64_t mid = n / 2;
    std::nth_element(values, values + mid, values + n);
    const double upper = values[mid];
    if (n % 2 == 1) return upper;
    const double lower = *std::max_element(values, values + mid);
    return (lower + upper) / 2.0;
}

// Robust centre and scale of one trace: median and 1.4826 * MAD. Falls back to
// the population std when more than half of the trace is one value (MAD = 0),
// and to 1 for a constant trace, so the result is always finite.
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

// Per-thread scratch space, reused across the neurons a thread fills.
struct Scratch {
    std::vector<double> trace;
    std::vector<float> trace_f32;
    std::vector<std::int32_t> positive_before;  // spikes > 0 in frames [0, t)
    std::vector<double> deviation, squared, sort;
};

template <class C>
NeuronProblem gather_calcium(const MatrixView<C>& calcium, std::int64_t row, std::int64_t length,
                             std::vector<double>& trace) {
    trace.resize(static_cast<std::size_t>(length));
    const C* src = calcium.data + row * calcium.row_stride;
    const std::int64_t step = calcium.col_stride;
    if (step == 1) {
        for (std::int64_t t = 0; t < length; ++t) trace[t] = static_cast<double>(src[t]);
    } else {
        for (std::int64_t t = 0; t < length; ++t) trace[t] = static_cast<double>(src[t * step]);
    }
    for (std::int64_t t = 0; t < length; ++t) {
        if (!std::isfinite(trace[t])) return {t, "calcium is NaN or infinite"};
    }
    return {};
}

template <class S>
NeuronProblem count_positive_spikes(const MatrixView<S>& spikes, std::int64_t row,
                                    std::int64_t length, std::vector<std::int32_t>& positive_before) {
    positive_before.resize(static_cast<std::size_t>(length) + 1);
    positive_before[0] = 0;
    for (std::int64_t t = 0; t < length; ++t) {
        const double s = static_cast<double>(spikes(row, t));
        if (!std::isfinite(s)) return {t, "spikes is NaN or infinite"};
        if (s < 0.0) return {t, "spikes is negative"};
        positive_before[t + 1] = positive_before[t] + (s > 0.0 ? 1 : 0);
    }
    return {};
}

template <class C, class S>
NeuronProblem fill_neuron(const MatrixView<C>& calcium, const MatrixView<S>* spikes,
                          std::int64_t row, std::int64_t length, std::int64_t first,
                          std::int64_t count, const WindowSpec& spec, Partition& out,
                          Scratch& scratch) {
    NeuronProblem problem = gather_calcium(calcium, row, length, scratch.trace);
    if (problem.frame >= 0) return problem;
    if (spikes != nullptr) {
        problem = count_positive_spikes(*spikes, row, length, scratch.positive_before);
        if (problem.frame >= 0) return problem;
    }
    if (count == 0) return {};

    const std::int64_t window_length = spec.length();
    const double* trace = scratch.trace.data();
    if (spec.normalization != Normalization::window) {
        // The whole trace is transformed once; each window is then a plain copy.
        double centre = 0.0, scale = 1.0;
        if (spec.normalization == Normalization::neuron) {
            robust_centre_scale(trace, length, scratch.sort, centre, scale);
        }
        scratch.trace_f32.resize(static_cast<std::size_t>(length));
        for (std::int64_t t = 0; t < length; ++t) {
            scratch.trace_f32[t] = spec.normalization == Normalization::neuron
                                       ? static_cast<float>((trace[t] - centre) / scale)
                                       : static_cast<float>(trace[t]);
        }
    } else {
        scratch.deviation.resize(static_cast<std::size_t>(window_length));
        scratch.squared.resize(static_cast<std::size_t>(window_length));
    }

    float* windows = out.windows.data() + first * window_length;
    for (std::int64_t k = 0; k < count; ++k) {
        const std::int64_t start = k * spec.skip;  // = i - len_pre
        float* dest = windows + k * window_length;
        if (spec.normalization == Normalization::window) {
            normalise_window(trace + start, window_length, scratch.deviation.data(),
                             scratch.squared.data(), dest);
        } else {
            std::memcpy(dest, scratch.trace_f32.data() + start,
                        static_cast<std::size_t>(window_length) * sizeof(float));
        }
    }
    std::int32_t* neuron = out.neuron.data() + first;
    std::int64_t* frame = out.frame.data() + first;
    for (std::int64_t k = 0; k < count; ++k) {
        neuron[k] = static_cast<std::int32_t>(row);
        frame[k] = spec.len_pre + k * spec.skip;
    }
    if (spikes != nullptr) {
        const std::int32_t* before = scratch.positive_before.data();
        std::uint8_t* did_spike = out.did_spike.data() + first;
        for (std::int64_t k = 0; k < count; ++k) {
            const std::int64_t i = spec.len_pre + k * spec.skip;
            did_spike[k] = before[i + spec.spike_n] > before[i - spec.spike_n] ? 1 : 0;
        }
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

    std::vector<NeuronProblem> problems(static_cast<std::size_t>(neurons));
    std::exception_ptr failure;
#pragma omp parallel num_threads(resolve_threads(threads))
    {
        Scratch scratch;
        // dynamic: traces differ in length, and each thread first-touches the
        // output pages of the neurons it fills.
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t r = 0; r < neurons; ++r) {
            try {
                problems[r] = fill_neuron(calcium, spikes, r, lengths[r], first[r],
                                          first[r + 1] - first[r], spec, out, scratch);
            } catch (...) {
#pragma omp critical(calspike_partition_failure)
                if (!failure) failure = std::current_exception();
            }
        }
    }
    if (failure) std::rethrow_exception(failure);
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
