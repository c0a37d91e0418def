// A weight matrix in the layout the kernels read (input-major, output rows padded), held as float32 or,
// in the engine's fp16 mode, as IEEE half floats: half the bytes to stream per sample, which is what bounds
// models whose weights outgrow the core's L2 cache. Arithmetic stays float32 either way.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/float_buffer.h"
#include "cpu/kernels.h"

namespace wavenet_rt::cpu {

class WeightMatrix {
 public:
  WeightMatrix() = default;
  WeightMatrix(int in, int out) : in_(in), out_(out), f32_(static_cast<size_t>(in) * out) {}

  // Filled while packing (float32), then finish() chooses the storage.
  float* staging() { return f32_.data(); }
  void finish(bool half);

  // y += W x, and the same for `rows` rows of x (x_stride apart) into rows of y (y_stride apart).
  void matvec(const Kernels& k, const float* x, float* y) const {
    if (half_) k.matvec_h(f16_.data(), in_, out_, x, y); else k.matvec(f32_.data(), in_, out_, x, y);
  }
  void matmat(const Kernels& k, const float* x, int x_stride, int rows, float* y, int y_stride) const {
    if (half_) k.matmat_h(f16_.data(), in_, out_, x, x_stride, rows, y, y_stride);
    else k.matmat(f32_.data(), in_, out_, x, x_stride, rows, y, y_stride);
  }

 private:
  int in_ = 0, out_ = 0;
  bool half_ = false;
  FloatBuffer f32_;
  std::vector<uint16_t> f16_;
};

}  // namespace wavenet_rt::cpu
