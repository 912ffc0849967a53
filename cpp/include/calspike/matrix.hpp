// A read-only strided view of a (rows, cols) matrix owned by someone else.
#pragma once

#include <cstdint>

namespace calspike {

template <class T>
struct MatrixView {
    const T* data = nullptr;
    std::int64_t rows = 0;
    std::int64_t cols = 0;
    std::int64_t row_stride = 0;  // in elements, not bytes
    std::int64_t col_stride = 1;  // in elements, not bytes

    T operator()(std::int64_t row, std::int64_t col) const noexcept {
        return data[row * row_stride + col * col_stride];
    }
};

}  // namespace calspike
