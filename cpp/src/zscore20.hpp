// The tutorial's 20-frame windows, z-scored four at a time in vectors of doubles: the
// fast path of zscore.cpp, included there only (inside its anonymous namespace), so that
// it inlines into the window loop and into each target clone. Rounds exactly as NumPy.
// Uses kWindowEpsilon and CALSPIKE_ALWAYS_INLINE from its includer.
#pragma once

#if defined(__GNUC__)
// The tutorial's 20-frame windows, in vectors of 4 doubles (AVX2 in the AVX2 clone, two
// SSE2 halves otherwise). A window is held as a row of five vectors, values 4b .. 4b+3 in
// row[b], so centring and scaling are plain vector operations and the output rows need
// no transposition; only the two sums gather lanes across four windows.
typedef double Double4 __attribute__((vector_size(32)));
typedef double UnalignedDouble4 __attribute__((vector_size(32), aligned(8), may_alias));
typedef long long Int4 __attribute__((vector_size(32)));
typedef float Float4 __attribute__((vector_size(16)));
typedef float UnalignedFloat4 __attribute__((vector_size(16), aligned(4), may_alias));

// Values 4b .. 4b+3 of a window (p points at value 4b), widened to double.
CALSPIKE_ALWAYS_INLINE inline Double4 load_block(const float* p) noexcept {
    return __builtin_convertvector(*reinterpret_cast<const UnalignedFloat4*>(p), Double4);
}
CALSPIKE_ALWAYS_INLINE inline Double4 load_block(const double* p) noexcept {
    return *reinterpret_cast<const UnalignedDouble4*>(p);
}

// Rows a, b, c, d of a 4x4 block, returned as its columns.
CALSPIKE_ALWAYS_INLINE inline void transpose4(Double4& a, Double4& b, Double4& c, Double4& d) noexcept {
    const Double4 ab0 = __builtin_shufflevector(a, b, 0, 4, 2, 6), ab1 = __builtin_shufflevector(a, b, 1, 5, 3, 7);
    const Double4 cd0 = __builtin_shufflevector(c, d, 0, 4, 2, 6), cd1 = __builtin_shufflevector(c, d, 1, 5, 3, 7);
    a = __builtin_shufflevector(ab0, cd0, 0, 1, 4, 5);
    b = __builtin_shufflevector(ab1, cd1, 0, 1, 4, 5);
    c = __builtin_shufflevector(ab0, cd0, 2, 3, 6, 7);
    d = __builtin_shufflevector(ab1, cd1, 2, 3, 6, 7);
}

// NumPy's pairwise sum of the 20 values (their squares if Square) of each of 4 * G windows
// held as rows; lane c of sum[g] is window 4g + c. NumPy's order for n = 20:
// r[j] = w[j] + w[j + 8] for j < 8, then ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then w[16..19]
// one by one. Squaring here, not into an array, saves a round trip through the stack.
template <int G, bool Square>
CALSPIKE_ALWAYS_INLINE inline void pairwise_sum_20(const Double4 (&row)[4 * G][5], Double4 (&sum)[G]) noexcept {
    for (int g = 0; g < G; ++g) {
        Double4 pairs[4], tail[4];
        for (int c = 0; c < 4; ++c) {
            Double4 w[5];
            for (int b = 0; b < 5; ++b) w[b] = Square ? row[4 * g + c][b] * row[4 * g + c][b] : row[4 * g + c][b];
            const Double4 low = w[0] + w[2];   // r0 .. r3
            const Double4 high = w[1] + w[3];  // r4 .. r7
            // (r0+r1, r4+r5, r2+r3, r6+r7)
            pairs[c] = __builtin_shufflevector(low, high, 0, 4, 2, 6) + __builtin_shufflevector(low, high, 1, 5, 3, 7);
            tail[c] = w[4];
        }
        transpose4(pairs[0], pairs[1], pairs[2], pairs[3]);
        transpose4(tail[0], tail[1], tail[2], tail[3]);
        sum[g] = (pairs[0] + pairs[2]) + (pairs[1] + pairs[3]);
        for (int j = 0; j < 4; ++j) sum[g] += tail[j];
    }
}

// Writes float32(deviation / denominator), NumPy's rounding, for one block of a window.
// It multiplies by the reciprocal instead of dividing (the divisions were a quarter of
// the kernel's time) and says whether any lane may round differently: the product is
// within 3 double ulps of the correctly rounded quotient (6 across a binade), so the two
// round to the same float32 unless a float32 rounding boundary lies within 6 ulps, and
// every such boundary (midpoints; also subnormal ones) has 28 low mantissa bits of zero.
// Lanes within 8 ulps of one are reported; the caller then divides. About 1 window in 10^6.
CALSPIKE_ALWAYS_INLINE inline Int4 store_scaled(Double4 deviation, double reciprocal, float* out) noexcept {
    const Double4 quotient = deviation * reciprocal;
    *reinterpret_cast<UnalignedFloat4*>(out) = __builtin_convertvector(quotient, Float4);
    return (((Int4)quotient + 8) & 0x0FFFFFFF) < 16;  // the bits, reinterpreted
}

// 4 * G windows of 20 frames, window i starting at first + i * skip, written to rows
// out + 20 i. G groups of four in flight let the CPU overlap their long dependency chains
// (sum, divide, sum, sqrt, divide).
template <int G, class T>
CALSPIKE_ALWAYS_INLINE inline void normalise_windows_20(const T* first, std::int64_t skip, float* out) noexcept {
    constexpr int W = 4 * G;
    Double4 row[W][5];
    for (int w = 0; w < W; ++w)
        for (int b = 0; b < 5; ++b) row[w][b] = load_block(first + w * skip + 4 * b);
    Double4 mean[G], denominator[G], reciprocal[G];
    pairwise_sum_20<G, false>(row, mean);
    for (int g = 0; g < G; ++g) mean[g] /= 20.0;
    for (int w = 0; w < W; ++w) {
        const double m = mean[w / 4][w % 4];
        for (int b = 0; b < 5; ++b) row[w][b] -= m;  // now the deviations
    }
    pairwise_sum_20<G, true>(row, denominator);
    for (int g = 0; g < G; ++g) {
        const Double4 variance = denominator[g] / 20.0;
        denominator[g] = Double4{std::sqrt(variance[0]), std::sqrt(variance[1]), std::sqrt(variance[2]),
                                 std::sqrt(variance[3])} + kWindowEpsilon;
        reciprocal[g] = 1.0 / denominator[g];
    }
    for (int w = 0; w < W; ++w) {
        float* row_out = out + 20 * w;
        Int4 doubtful = store_scaled(row[w][0], reciprocal[w / 4][w % 4], row_out);
        for (int b = 1; b < 5; ++b) doubtful |= store_scaled(row[w][b], reciprocal[w / 4][w % 4], row_out + 4 * b);
        if (__builtin_expect((doubtful[0] | doubtful[1] | doubtful[2] | doubtful[3]) != 0, 0)) {
            const double d = denominator[w / 4][w % 4];
            for (int b = 0; b < 5; ++b)
                *reinterpret_cast<UnalignedFloat4*>(row_out + 4 * b) = __builtin_convertvector(row[w][b] / d, Float4);
        }
    }
}
#endif
