// pybind11 adapter for conditioner.h: wavenet_rt/conditioning.py's MidiConditioner is this class.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "conditioner.h"

namespace py = pybind11;

namespace wavenet_rt {

void bind_conditioner(py::module_& m) {
  m.attr("ONSET_FRAMES") = kOnsetFrames;
  m.attr("LOWEST_KEY") = kLowestKey;
  m.attr("KEYS") = kKeys;
  m.def("feature_channels", &feature_channels, py::arg("features"), "channels of a feature set, -1 if unknown");
  py::class_<Conditioner>(m, "Conditioner", "MIDI bytes -> conditioning frames (csrc/conditioner.h)")
      .def(py::init<const std::string&, int, int>(), py::arg("features"), py::arg("hop"), py::arg("capacity") = 1024)
      .def_property_readonly("channels", &Conditioner::channels)
      .def_property_readonly("next_frame", &Conditioner::next_frame)
      .def_property_readonly("ignored", &Conditioner::ignored)
      .def_property_readonly("sounding_keys", &Conditioner::sounding_keys)
      .def(
          "push",
          [](Conditioner& c, int64_t sample, const py::bytes& message) {
            const std::string bytes = message;
            c.push(sample, reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
          },
          py::arg("sample"), py::arg("message"), "queue raw MIDI bytes that happened at `sample`")
      .def(
          "frames",
          [](Conditioner& c, int count) {
            if (count < 0) throw py::value_error("count must be >= 0");
            py::array_t<float> out({static_cast<py::ssize_t>(c.channels()), static_cast<py::ssize_t>(count)});
            c.frames(count, out.mutable_data(), count);
            return out;
          },
          py::arg("count"), "the next `count` frames -> float32 (channels, count)");
}

}  // namespace wavenet_rt
