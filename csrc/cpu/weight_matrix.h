// A weight matrix in the layout the kernels read (input-major, output rows padded), held as float32, as IEEE
// half floats (fp16 mode), or as int8 with one scale per output (int8 mode): fewer bytes to stream per
// sample, which is what bounds models whose weights outgrow the core's caches. fp16 computes in float32;
// int8 in exact integer sums of 16-bit-quantized inputs (kernels.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cpu/float_buffer.h"
#include "cpu/kernels.h"

namespace wavenet_rt::cpu {

enum class Precision { fp32, fp16, int8 };

// "fp32", "fp16" or "int8"; throws std::invalid_argument otherwise.
Precision parse_precision(const std::string& name);
const char* precision_name(Precision precision);

class WeightMatrix {
 public:
  WeightMatrix() = default;
  WeightMatrix(int in, int out) : in_(in), out_(out), f32_(static_cast<size_t>(in) * out) {}

  // Filled while packing (float32), then finish() chooses the storage.
  float* staging() { return f32_.data(); }
  void finish(Precision precision);
  // Weight (i, o) as the kernels multiply it (after rounding to the storage), for the engine's priming sums.
  float stored(int i, int o) const;

  // y += W x, and the same for `rows` rows of x (x_stride apart) into rows of y (y_stride apart).
  void matvec(const Kernels& k, const float* x, float* y) const;
  void matmat(const Kernels& k, const float* x, int x_stride, int rows, float* y, int y_stride) const;

 private:
  void quantize_int8();

  int in_ = 0, out_ = 0;
  Precision precision_ = Precision::fp32;
  FloatBuffer f32_;
  std::vector<uint16_t> f16_;
  std::vector<int8_t> q8_;  // input pairs: q8_index (kernels.h)
  FloatBuffer scales_;      // int8: per output
};

}  // namespace wavenet_rt::cpu
