// pybind11 module wavenet_rt._engine: NumPy <-> C++ adapters over the headers in csrc/, no math of its
// own. Input checks raise ValueError; long loops run without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/feedback.h"
#include "core/sampling.h"
#include "midi/velocity_curve.h"
#ifdef WAVENET_RT_WITH_CUDA
#include "cuda/device_check.h"
#endif

namespace py = pybind11;

namespace wavenet_rt {
void bind_engine(py::module_& m);       // bindings_engine.cpp
void bind_conditioner(py::module_& m);  // bindings_conditioner.cpp
void bind_synth(py::module_& m);        // bindings_synth.cpp
}  // namespace wavenet_rt

using wavenet_rt::mulaw_decode;
using wavenet_rt::mulaw_encode;

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using CodeArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

void check_classes(int classes) {
  if (classes < 2 || classes > 65536) {
    throw py::value_error("classes must be in [2, 65536], got " + std::to_string(classes));
  }
}

std::vector<py::ssize_t> shape_of(const py::array& a) { return {a.shape(), a.shape() + a.ndim()}; }

CodeArray encode(const FloatArray& audio, int classes) {
  check_classes(classes);
  CodeArray codes(shape_of(audio));
  const float* in = audio.data();
  int64_t* out = codes.mutable_data();
  const py::ssize_t n = audio.size();
  {
    py::gil_scoped_release release;
    for (py::ssize_t i = 0; i < n; ++i) out[i] = mulaw_encode(in[i], classes);
  }
  return codes;
}

FloatArray exp_weights(const FloatArray& x) {
  FloatArray out(shape_of(x));
  const float* in = x.data();
  float* o = out.mutable_data();
  for (py::ssize_t i = 0; i < x.size(); ++i) o[i] = wavenet_rt::sampling_exp(in[i]);
  return out;
}

FloatArray decode(const CodeArray& codes, int classes) {
  check_classes(classes);
  const int64_t* in = codes.data();
  const py::ssize_t n = codes.size();
  for (py::ssize_t i = 0; i < n; ++i) {
    if (in[i] < 0 || in[i] >= classes) {
      throw py::value_error("code " + std::to_string(in[i]) + " at flat index " + std::to_string(i) +
                            " is outside [0, " + std::to_string(classes - 1) + "]");
    }
  }
  FloatArray audio(shape_of(codes));
  float* out = audio.mutable_data();
  {
    py::gil_scoped_release release;
    for (py::ssize_t i = 0; i < n; ++i) out[i] = mulaw_decode(static_cast<int>(in[i]), classes);
  }
  return audio;
}

FloatArray uniforms(uint64_t seed, uint32_t stream, uint64_t start, int64_t n) {
  if (n < 0) throw py::value_error("n must be >= 0");
  FloatArray out(n);
  float* data = out.mutable_data();
  {
    py::gil_scoped_release release;
    for (int64_t i = 0; i < n; ++i) data[i] = wavenet_rt::sampling_uniform(seed, stream, start + i);
  }
  return out;
}

CodeArray sample(const FloatArray& logits, float temperature, const FloatArray& u) {
  if (logits.ndim() != 2) throw py::value_error("logits must be 2-D (rows, classes)");
  if (u.ndim() != 1 || u.shape(0) != logits.shape(0)) {
    throw py::value_error("uniforms must be 1-D with one value per row of logits");
  }
  const py::ssize_t rows = logits.shape(0), classes = logits.shape(1);
  if (classes < 1) throw py::value_error("logits need at least one class");
  CodeArray picks(rows);
  const float* in = logits.data();
  const float* draws = u.data();
  int64_t* out = picks.mutable_data();
  {
    py::gil_scoped_release release;
    std::vector<float> scratch(classes);
    for (py::ssize_t r = 0; r < rows; ++r) {
      out[r] = wavenet_rt::sample_categorical(in + r * classes, static_cast<int>(classes), temperature,
                                              draws[r], scratch.data());
    }
  }
  return picks;
}

FloatArray edges(int classes) {
  check_classes(classes);
  FloatArray out(classes - 1);
  for (int i = 0; i < classes - 1; ++i) out.mutable_data()[i] = wavenet_rt::mulaw_edge(i, classes);
  return out;
}

// One stream's drawn classes -> the classes played and heard, through a DC blocker from rest.
CodeArray played(const CodeArray& drawn, float pole, int classes) {
  check_classes(classes);
  if (drawn.ndim() != 1) throw py::value_error("drawn must be 1-D");
  const int64_t* in = drawn.data();
  for (py::ssize_t i = 0; i < drawn.size(); ++i) {
    if (in[i] < 0 || in[i] >= classes) throw py::value_error("drawn classes must lie in [0, classes)");
  }
  std::vector<float> centres(classes), ends(classes - 1);
  for (int i = 0; i < classes; ++i) centres[i] = mulaw_decode(i, classes);
  for (int i = 0; i < classes - 1; ++i) ends[i] = wavenet_rt::mulaw_edge(i, classes);
  wavenet_rt::DcBlocker state = wavenet_rt::dc_blocker_at_rest(centres.data(), mulaw_encode(0.0f, classes));
  CodeArray out(drawn.size());
  for (py::ssize_t i = 0; i < drawn.size(); ++i) {
    out.mutable_data()[i] = wavenet_rt::fed_back_class(static_cast<int>(in[i]), pole, centres.data(), ends.data(),
                                                       classes, &state);
  }
  return out;
}

#ifdef WAVENET_RT_WITH_CUDA
FloatArray cuda_uniforms(uint64_t seed, uint32_t stream, uint64_t start, int64_t n) {
  if (n < 0) throw py::value_error("n must be >= 0");
  if (wavenet_rt::cuda_device_count() == 0) throw std::runtime_error("no CUDA device is available");
  FloatArray out(n);
  float* data = out.mutable_data();
  py::gil_scoped_release release;
  wavenet_rt::cuda_sampling_uniforms(seed, stream, start, n, data);
  return out;
}
#endif

}  // namespace

PYBIND11_MODULE(_engine, m) {
  m.doc() = "wavenet_rt compiled core (see csrc/)";
  wavenet_rt::bind_engine(m);
  wavenet_rt::bind_conditioner(m);
  wavenet_rt::bind_synth(m);
  m.def("mulaw_encode", &encode, py::arg("audio"), py::arg("classes") = 256,
        "float audio in [-1, 1] -> int64 mu-law classes (same shape)");
  m.def("mulaw_decode", &decode, py::arg("codes"), py::arg("classes") = 256,
        "int mu-law classes -> float32 audio (same shape)");
  m.def("mulaw_edges", &edges, py::arg("classes") = 256,
        "float32 (classes - 1,): where each mu-law class ends and the next begins");
  m.def("played_classes", &played, py::arg("drawn"), py::arg("pole"), py::arg("classes") = 256,
        "one stream's drawn classes -> the classes played and heard through a DC blocker (feedback.h)");
  m.def("sampling_uniforms", &uniforms, py::arg("seed"), py::arg("stream"), py::arg("start"), py::arg("n"),
        "the n sampling uniforms of (seed, stream) from sample index `start` on");
  m.def("sampling_exp", &exp_weights, py::arg("x"), "the sampling contract's exp, elementwise (float32)");
  m.attr("min_temperature") = wavenet_rt::kMinTemperature;
  m.attr("max_temperature") = wavenet_rt::kMaxTemperature;
  m.attr("max_strike_scale") = wavenet_rt::kMaxStrikeScale;
  m.attr("velocity_curve_points") = py::tuple(py::cast(std::vector<int>(wavenet_rt::kVelocityCurvePoints.begin(),
                                                                        wavenet_rt::kVelocityCurvePoints.end())));
  m.attr("max_velocity_trim_db") = wavenet_rt::kMaxVelocityTrimDb;
  m.attr("velocity_trim_ramp") = wavenet_rt::kVelocityTrimRamp;
  m.def("sample_categorical", &sample, py::arg("logits"), py::arg("temperature"), py::arg("uniforms"),
        "one class per row of logits (rows, classes), drawn with the given uniforms");
#ifdef WAVENET_RT_WITH_CUDA
  m.attr("built_with_cuda") = true;
  m.def("cuda_device_count", &wavenet_rt::cuda_device_count);
  m.def("cuda_sampling_uniforms", &cuda_uniforms, py::arg("seed"), py::arg("stream"), py::arg("start"),
        py::arg("n"), "sampling_uniforms computed by a CUDA kernel on device 0");
#else
  m.attr("built_with_cuda") = false;
  m.def("cuda_device_count", []() { return 0; });
#endif
}
