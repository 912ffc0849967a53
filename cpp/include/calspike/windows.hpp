// Cutting (neurons, frames) recordings into labelled, normalised windows.
//
// Semantics (DESIGN.md, "The tutorial's windowing, exactly"): for each neuron
// with valid length T, for i in range(len_pre, T - len_post, skip):
//   window    = calcium[i - len_pre : i + len_post]
//   did_spike = any(spikes[i - spike_n : i + spike_n] > 0)
// Per-window normalisation is (w - mean(w)) / (std(w) + 1e-7) computed in double
// with NumPy's pairwise summation order, so the float32 result matches NumPy's
// bit for bit.
#pragma once

#include <cstdint>
#include <vector>

#include "calspike/buffer.hpp"
#include "calspike/matrix.hpp"

namespace calspike {

enum class Normalization { window, neuron, none };

struct WindowSpec {
    std::int64_t len_pre = 10;
    std::int64_t len_post = 10;
    std::int64_t skip = 10;
    std::int64_t spike_n = 2;
    Normalization normalization = Normalization::window;

    std::int64_t length() const noexcept { return len_pre + len_post; }
};

struct Partition {
    Buffer<float> windows;           // (count, length) row-major
    Buffer<std::uint8_t> did_spike;  // (count,), 0 or 1; empty when no spikes were given
    Buffer<std::int32_t> neuron;     // (count,)
    Buffer<std::int64_t> frame;      // (count,), the centre frame i
    std::int64_t count = 0;
    std::int64_t length = 0;
    std::vector<std::int64_t> skipped;  // neurons too short to yield a window
};

// Throws std::invalid_argument when a parameter is out of range.
void check_spec(const WindowSpec& spec);

// Number of windows a trace of `valid_length` frames yields.
std::int64_t window_count(std::int64_t valid_length, const WindowSpec& spec) noexcept;

// Frames before each row's trailing run of NaN (the padding of shorter traces).
template <class T>
std::vector<std::int64_t> valid_lengths(const MatrixView<T>& matrix);

// Cuts every neuron into windows, in parallel over neurons with `threads`
// threads (0: OpenMP's default). `lengths` has one entry per neuron, each at
// most calcium.cols; `spikes` may be null. Throws std::invalid_argument naming
// the neuron and frame when calcium is not finite, or spikes not finite or
// negative, inside a valid length. Does not touch any Python object.
template <class C, class S>
Partition partition(const MatrixView<C>& calcium, const MatrixView<S>* spikes,
                    const std::vector<std::int64_t>& lengths, const WindowSpec& spec,
                    int threads);

}  // namespace calspike
