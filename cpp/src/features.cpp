#include "calspike/features.hpp"

#include <stdexcept>

#include "calspike/parallel_rows.hpp"

namespace calspike {

namespace {

inline float feature_value(Feature kind, float x, float d, float tutorial_d) noexcept {
    switch (kind) {
        case Feature::raw: return x;
        case Feature::tutorial_delta: return tutorial_d;
        case Feature::delta: return d;
        case Feature::quad: return x * x;
        case Feature::delta_quad: return d * d;
    }
    return x;
}

}  // namespace

Buffer<float> feature_stack(const float* windows, std::int64_t count, std::int64_t length,
                            const std::vector<Feature>& kinds, int threads) {
    if (count < 0 || length < 1) throw std::invalid_argument("windows must have at least one column");
    if (kinds.empty()) throw std::invalid_argument("kinds must name at least one feature");
    const auto channels = static_cast<std::int64_t>(kinds.size());
    Buffer<float> out(static_cast<std::size_t>(count * length * channels));
    float* dest = out.data();
    const Feature* kind = kinds.data();
    // Windows cost the same: static blocks.
    parallel_rows(count, threads, RowSchedule::blocks, [&](std::int64_t w) {
        const float* x = windows + w * length;
        float* row = dest + w * length * channels;
        for (std::int64_t t = 0; t < length; ++t) {
            const float d = t == 0 ? 0.0f : x[t] - x[t - 1];
            // the tutorial subtracted a zero copy whose last frame holds the first one
            const float tutorial_d = t == length - 1 ? x[t] - x[0] : x[t];
            for (std::int64_t c = 0; c < channels; ++c) {
                row[t * channels + c] = feature_value(kind[c], x[t], d, tutorial_d);
            }
        }
    });
    return out;
}

}  // namespace calspike
