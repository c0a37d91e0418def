// pybind11 adapters for engine.h: NumPy arrays in, NumPy arrays out, shapes checked, the GIL released
// while an engine works. wavenet_rt/engine.py is the Python face; this file only converts.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "core/engine.h"
#include "core/tensor_list.h"

namespace py = pybind11;

namespace wavenet_rt {
namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using IntArray = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

std::string shape_text(const std::vector<py::ssize_t>& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

void check_shape(const py::array& a, const std::vector<py::ssize_t>& want, const std::string& name) {
  std::vector<py::ssize_t> got(a.shape(), a.shape() + a.ndim());
  if (got != want) throw py::value_error(name + " must have shape " + shape_text(want) + ", got " + shape_text(got));
}

ModelConfig config_from(const py::dict& c) {
  ModelConfig config;
  config.dilations = c["dilations"].cast<std::vector<int>>();
  config.kernel_size = c["kernel_size"].cast<int>();
  config.residual_channels = c["residual_channels"].cast<int>();
  config.gate_channels = c["gate_channels"].cast<int>();
  config.skip_channels = c["skip_channels"].cast<int>();
  config.classes = c["classes"].cast<int>();
  config.cond_channels = c["cond_channels"].cast<int>();
  config.cond_hop = c["cond_hop"].cast<int>();
  config.global_classes = c["global_classes"].cast<int>();
  config.sample_rate = c["sample_rate"].cast<int>();
  const std::string excitation = c.contains("excitation") ? c["excitation"].cast<std::string>() : "";
  if (excitation != "" && excitation != "periods") throw py::value_error("unknown excitation '" + excitation + "'");
  config.excitation = excitation == "periods";
  config.dc_blocker = c.contains("dc_blocker") ? c["dc_blocker"].cast<float>() : 0.0f;
  config.validate();
  return config;
}

// Holds the float32 arrays alive while an engine copies from them.
struct TensorViews {
  py::dict tensors;
  std::vector<FloatArray> keep;

  const float* get(const std::string& name, const std::vector<py::ssize_t>& shape) {
    if (!tensors.contains(name)) throw py::value_error("model weights lack tensor " + name);
    keep.emplace_back(FloatArray::ensure(tensors[name.c_str()]));
    if (!keep.back()) throw py::value_error("tensor " + name + " is not a float array");
    check_shape(keep.back(), shape, "tensor " + name);
    return keep.back().data();
  }
};

std::shared_ptr<Engine> build(const std::string& backend, const py::dict& config_dict, const py::dict& tensors,
                              int streams, int threads, const std::string& simd, const std::string& precision,
                              int sleep_after_frames) {
  HostWeights w;
  w.config = config_from(config_dict);
  TensorViews views{tensors, {}};
  for (const TensorSlot& t : tensor_list(w)) {
    *t.field = views.get(t.name, std::vector<py::ssize_t>(t.shape.begin(), t.shape.end()));
  }
  EngineOptions options;
  options.streams = streams;
  options.threads = threads;
  options.simd = simd;
  options.precision = precision;
  options.sleep_after_frames = sleep_after_frames;
  return make_engine(backend, w, options);
}

const float* cond_pointer(Engine& e, const py::object& cond, int frames, std::vector<FloatArray>& keep) {
  const ModelConfig& c = e.config();
  if (!c.cond_channels) {
    if (!cond.is_none()) throw py::value_error("this model has no local conditioning, but cond was given");
    return nullptr;
  }
  if (cond.is_none()) throw py::value_error("this model needs cond (streams, cond_channels, frames)");
  keep.emplace_back(FloatArray::ensure(cond));
  check_shape(keep.back(), {e.streams(), c.cond_channels, frames}, "cond");
  return keep.back().data();
}

const int32_t* global_pointer(Engine& e, const py::object& ids, std::vector<IntArray>& keep) {
  if (!e.config().global_classes) {
    if (!ids.is_none()) throw py::value_error("this model has no global conditioning, but global_id was given");
    return nullptr;
  }
  if (ids.is_none()) throw py::value_error("this model needs global_id, one class per stream");
  keep.emplace_back(IntArray::ensure(ids));
  check_shape(keep.back(), {e.streams()}, "global_id");
  return keep.back().data();
}

FloatArray generate(Engine& e, int n, const py::object& cond, int frames, const py::object& global_ids,
                    const FloatArray& temperatures) {
  if (n < 0) throw py::value_error("n must be >= 0");
  std::vector<FloatArray> keep_f;
  std::vector<IntArray> keep_i;
  const float* c = cond_pointer(e, cond, frames, keep_f);
  const int32_t* g = global_pointer(e, global_ids, keep_i);
  check_shape(temperatures, {e.streams()}, "temperatures");
  FloatArray audio({static_cast<py::ssize_t>(e.streams()), static_cast<py::ssize_t>(n)});
  float* out = audio.mutable_data();
  const float* temps = temperatures.data();
  {
    py::gil_scoped_release release;
    e.generate(n, c, frames, g, temps, out);
  }
  return audio;
}

FloatArray logits(Engine& e, const IntArray& codes, const py::object& cond, const py::object& global_ids) {
  if (codes.ndim() != 2 || codes.shape(0) != e.streams()) {
    throw py::value_error("codes must have shape (" + std::to_string(e.streams()) + ", steps): one row per stream");
  }
  const int steps = static_cast<int>(codes.shape(1));
  const int frames = (steps + e.config().cond_hop - 1) / e.config().cond_hop;
  std::vector<FloatArray> keep_f;
  std::vector<IntArray> keep_i;
  const float* c = cond_pointer(e, cond, frames, keep_f);
  const int32_t* g = global_pointer(e, global_ids, keep_i);
  FloatArray out({static_cast<py::ssize_t>(e.streams()), static_cast<py::ssize_t>(e.config().classes),
                  static_cast<py::ssize_t>(steps)});
  float* o = out.mutable_data();
  const int32_t* k = codes.data();
  {
    py::gil_scoped_release release;
    e.logits(k, steps, c, g, o);
  }
  return out;
}

// name -> shape of every tensor a model of this config holds (tensor_list.h, the one definition).
py::dict tensor_shapes(const py::dict& config_dict) {
  HostWeights w;
  w.config = config_from(config_dict);
  py::dict shapes;
  for (const TensorSlot& t : tensor_list(w)) shapes[py::str(t.name)] = py::tuple(py::cast(t.shape));
  return shapes;
}

}  // namespace

void bind_engine(py::module_& m) {
  py::class_<Engine, std::shared_ptr<Engine>>(m, "Engine", "a compiled engine; build it with make_engine")
      .def_property_readonly("backend", &Engine::backend)
      .def_property_readonly("details", &Engine::details)
      .def_property_readonly("streams", &Engine::streams)
      .def("reset", &Engine::reset, py::arg("seed"))
      .def("generate", &generate, py::arg("n"), py::arg("cond"), py::arg("frames"), py::arg("global_ids"),
           py::arg("temperatures"), "next n samples of every stream -> (streams, n) float32")
      .def("logits", &logits, py::arg("codes"), py::arg("cond"), py::arg("global_ids"),
           "teacher-forced logits (streams, classes, steps) from a zero history");
  m.def("make_engine", &build, py::arg("backend"), py::arg("config"), py::arg("tensors"), py::arg("streams"),
        py::arg("threads") = 0, py::arg("simd") = "auto", py::arg("precision") = "fp32",
        py::arg("sleep_after_frames") = 0);
  m.def("tensor_shapes", &tensor_shapes, py::arg("config"),
        "name -> shape (PyTorch layout) of every tensor a model file of this config holds");
}

}  // namespace wavenet_rt
