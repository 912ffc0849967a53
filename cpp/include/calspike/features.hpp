// Feature stacks for the models: per-frame channels computed from windows.
#pragma once

#include <cstdint>
#include <vector>

#include "calspike/buffer.hpp"

namespace calspike {

// raw: x[t]; delta: d[t] = x[t] - x[t-1] with d[0] = 0 (a real temporal
// difference, not the tutorial's); quad: x[t]^2; delta_quad: d[t]^2;
// tutorial_delta: the tutorial's DeltaFeature, x minus a zero sequence whose last
// frame holds x[0], so x[t] for t < L-1 and x[L-1] - x[0] at the last frame.
enum class Feature { raw, delta, quad, delta_quad, tutorial_delta };

// From (count, length) row-major float32 windows, a (count, length, channels)
// row-major float32 stack, channel c holding kinds[c]. Parallel over windows.
Buffer<float> feature_stack(const float* windows, std::int64_t count, std::int64_t length,
                            const std::vector<Feature>& kinds, int threads);

}  // namespace calspike
