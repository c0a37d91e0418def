// pybind11 adapter for conditioner.h and voices.h: wavenet_rt/conditioning.py's MidiConditioner is this
// class, and offline renders mix voices with the function the live synth uses.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <vector>

#include "midi/conditioner.h"
#include "midi/voices.h"

namespace py = pybind11;

namespace wavenet_rt {

void bind_conditioner(py::module_& m) {
  m.attr("ONSET_SECONDS") = kOnsetSeconds;
  m.def("onset_frames", &onset_frames, py::arg("hop"), py::arg("sample_rate"),
        "frames the onset channel stays set after a note-on at this hop and sample rate");
  m.attr("LOWEST_KEY") = kLowestKey;
  m.attr("KEYS") = kKeys;
  m.attr("MAX_VOICES") = VoiceAllocator::kMaxVoices;
  m.attr("MAX_GAIN") = kMaxGain;
  m.def(
      "mix_voices",
      [](const py::array_t<float, py::array::c_style | py::array::forcecast>& audio, float gain) {
        if (audio.ndim() != 2 || audio.shape(0) < 1) throw py::value_error("audio must have shape (streams, n)");
        if (!valid_gain(gain)) {
          throw py::value_error("gain must be in " + gain_range());
        }
        const auto streams = static_cast<int>(audio.shape(0)), n = static_cast<int>(audio.shape(1));
        py::array_t<float> out(n);
        mix_voices(audio.data(), streams, n, gain, out.mutable_data());
        return out;
      },
      py::arg("audio"), py::arg("gain") = 1.0f,
      "voices' streams (streams, n) -> their mix (n,): summed, times gain, clamped, as the live synth mixes them");
  m.def(
      "note_ages",
      [](const py::array_t<float, py::array::c_style | py::array::forcecast>& frames, int hop, int sample_rate) {
        if (frames.ndim() != 2 || frames.shape(0) < 2 * kKeys) {
          throw py::value_error("frames must have shape (channels >= 176, frames): the roll, then the onsets");
        }
        if (hop < 1 || sample_rate < 1) throw py::value_error("hop and sample_rate must be >= 1");
        const auto count = static_cast<int>(frames.shape(1));
        py::array_t<float> out({static_cast<py::ssize_t>(kKeys), static_cast<py::ssize_t>(count)});
        NoteAge(hop, sample_rate).fill(frames.data(), frames.data() + static_cast<long>(kKeys) * count,
                                       out.mutable_data(), count, count);
        return out;
      },
      py::arg("frames"), py::arg("hop"), py::arg("sample_rate"),
      "the age channels (88, frames) of frames whose roll and onsets come first, from a clock at rest (note_age.h)");
  m.def("feature_channels", &feature_channels, py::arg("features"), "channels of a feature set, -1 if unknown");
  py::class_<Conditioner>(m, "Conditioner", "MIDI bytes -> conditioning frames (csrc/midi/conditioner.h)")
      .def(py::init([](const std::string& features, int hop, int capacity, int voices, int sample_rate) {
             return std::make_unique<Conditioner>(features, hop, capacity, false, voices, 0, sample_rate);
           }),
           py::arg("features"), py::arg("hop"), py::arg("capacity") = 1024, py::arg("voices") = 0,
           py::arg("sample_rate") = 0)
      .def_property_readonly("channels", &Conditioner::channels)
      .def_property_readonly("onset_frames", &Conditioner::onset_frames)
      .def_property_readonly("voices", &Conditioner::voices)
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
            std::vector<py::ssize_t> shape{c.channels(), count};
            if (c.voices() > 0) shape.insert(shape.begin(), c.voices());
            py::array_t<float> out(shape);
            c.frames(count, out.mutable_data(), count);
            return out;
          },
          py::arg("count"), "the next `count` frames -> float32 (channels, count), or (voices, channels, count)");
}

}  // namespace wavenet_rt
