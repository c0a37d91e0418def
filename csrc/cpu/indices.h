// Compile-time indices 0 .. N-1 for the SIMD kernels' folds over register accumulators. Types only, no
// code: safe to include in files built with different instruction sets (std::make_integer_sequence would
// bring a standard header, which those files avoid).
#pragma once

namespace wavenet_rt::cpu {

template <int... K>
struct Indices {};
template <int N, int... K>
struct MakeIndices : MakeIndices<N - 1, N - 1, K...> {};
template <int... K>
struct MakeIndices<0, K...> {
  using type = Indices<K...>;
};

}  // namespace wavenet_rt::cpu
