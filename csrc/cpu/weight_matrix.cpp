// WeightMatrix::finish (weight_matrix.h): the one-time float32 -> half conversion of the fp16 mode.
#include "cpu/weight_matrix.h"

#include "cpu/half.h"

namespace wavenet_rt::cpu {

void WeightMatrix::finish(bool half) {
  half_ = half;
  if (!half) return;
  const size_t n = static_cast<size_t>(in_) * out_;
  f16_.resize(n);
  for (size_t i = 0; i < n; ++i) f16_[i] = float_to_half(f32_.data()[i]);
  f32_ = FloatBuffer();
}

}  // namespace wavenet_rt::cpu
