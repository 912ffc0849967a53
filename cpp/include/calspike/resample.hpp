// Frame-rate conversion of traces (anti-aliased) and of spike counts (conserving them).
//
// Frame k of a recording at rate r covers the time [k / r, (k + 1) / r) seconds; its
// sample stands for the centre of that interval.
#pragma once

#include <cstdint>
#include <vector>

#include "calspike/buffer.hpp"
#include "calspike/matrix.hpp"

namespace calspike {

// Frames at `rate_out` that cover `frames` frames at `rate_in`: ceil(frames * rate_out / rate_in),
// with ratios within 1e-9 of an integer rounded to it (so 100 -> 25 Hz maps 8 frames to 2).
std::int64_t resampled_length(std::int64_t frames, double rate_in, double rate_out);

// Resamples each row's first lengths[row] frames from rate_in to rate_out with a triangle
// (linear-interpolation) kernel whose half-width is max(1 input frame, 1 output frame):
// plain linear interpolation when upsampling, an anti-aliasing low-pass when downsampling.
// Weights are renormalised at the edges. Returns (rows, max out length) float32, NaN
// beyond each row's resampled length; out_lengths receives the lengths.
template <class T>
Buffer<float> resample_traces(const MatrixView<T>& traces, const std::vector<std::int64_t>& lengths,
                              double rate_in, double rate_out, std::vector<std::int64_t>& out_lengths,
                              int threads);

// Maps counts per frame at rate_in onto frames at rate_out, out_lengths[row] of them: each
// input frame's count is spread over the output frames its interval overlaps, in proportion
// to the overlap, with both recordings cut at the shorter one's end. So the total count of
// a row is kept exactly whenever the output covers the input. Returns (rows, max
// out_lengths) float32, NaN beyond each row's length.
template <class T>
Buffer<float> rebin_counts(const MatrixView<T>& counts, const std::vector<std::int64_t>& lengths,
                           double rate_in, double rate_out, const std::vector<std::int64_t>& out_lengths,
                           int threads);

}  // namespace calspike
