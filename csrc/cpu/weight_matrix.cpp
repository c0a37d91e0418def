// WeightMatrix (weight_matrix.h): the one-time conversion of packed float32 weights to the chosen storage,
// and the dispatch of products to the matching kernel.
#include "cpu/weight_matrix.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "cpu/half.h"

namespace wavenet_rt::cpu {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "fp16") return Precision::fp16;
  if (name == "int8") return Precision::int8;
  throw std::invalid_argument("precision must be 'fp32', 'fp16' or 'int8', got '" + name + "'");
}

const char* precision_name(Precision precision) {
  return precision == Precision::fp16 ? "fp16" : precision == Precision::int8 ? "int8" : "fp32";
}

void WeightMatrix::finish(Precision precision) {
  precision_ = precision;
  const size_t n = static_cast<size_t>(in_) * out_;
  if (precision == Precision::fp16) {
    f16_.resize(n);
    for (size_t i = 0; i < n; ++i) f16_[i] = float_to_half(f32_.data()[i]);
    f32_ = FloatBuffer();
  } else if (precision == Precision::int8) {
    quantize_int8();
    f32_ = FloatBuffer();
  }
}

// Per output o: scale = max_i |w(i, o)| / 127, q = nearest(w / scale). Python's tests quantize alike.
void WeightMatrix::quantize_int8() {
  if (in_ > kQ8MaxInputs) {
    throw std::invalid_argument("precision 'int8' takes matrices of at most " + std::to_string(kQ8MaxInputs) +
                                " inputs; this model has " + std::to_string(in_));
  }
  const int pairs = (in_ + 1) / 2;
  q8_.assign(static_cast<size_t>(pairs) * out_ * 2, 0);
  scales_ = FloatBuffer(out_);
  for (int o = 0; o < out_; ++o) {
    float m = 0.0f;
    for (int i = 0; i < in_; ++i) m = std::max(m, std::fabs(f32_.data()[static_cast<long>(i) * out_ + o]));
    if (m == 0.0f) continue;  // a padding column, or an output no input reaches
    const float scale = m / 127.0f;
    scales_.data()[o] = scale;
    for (int i = 0; i < in_; ++i) {
      const float q = std::nearbyint(f32_.data()[static_cast<long>(i) * out_ + o] / scale);
      q8_[q8_index(i, o, out_)] = static_cast<int8_t>(std::max(-127.0f, std::min(127.0f, q)));
    }
  }
}

float WeightMatrix::stored(int i, int o) const {
  switch (precision_) {
    case Precision::fp16: return half_to_float(f16_[static_cast<size_t>(i) * out_ + o]);
    case Precision::int8: return q8_[q8_index(i, o, out_)] * scales_.data()[o];
    default: return f32_.data()[static_cast<size_t>(i) * out_ + o];
  }
}

void WeightMatrix::matvec(const Kernels& k, const float* x, float* y) const {
  switch (precision_) {
    case Precision::fp16: k.matvec_h(f16_.data(), in_, out_, x, y); break;
    case Precision::int8: k.matmat_q8(q8_.data(), scales_.data(), in_, out_, x, 0, 1, y, 0); break;
    default: k.matvec(f32_.data(), in_, out_, x, y); break;
  }
}

void WeightMatrix::matmat(const Kernels& k, const float* x, int x_stride, int rows, float* y, int y_stride) const {
  switch (precision_) {
    case Precision::fp16: k.matmat_h(f16_.data(), in_, out_, x, x_stride, rows, y, y_stride); break;
    case Precision::int8: k.matmat_q8(q8_.data(), scales_.data(), in_, out_, x, x_stride, rows, y, y_stride); break;
    default: k.matmat(f32_.data(), in_, out_, x, x_stride, rows, y, y_stride); break;
  }
}

}  // namespace wavenet_rt::cpu
