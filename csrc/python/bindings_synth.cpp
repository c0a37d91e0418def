// pybind11 adapters for synth.h and performer.h: wavenet_rt/live/stream.py builds a Synth over an engine
// and hands PortAudio the address of the C callback with the synth's address as userdata;
// wavenet_rt/render.py plays MIDI files through a Performer, the synth's own path. Blocking calls release
// the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "live/performer.h"
#include "live/synth.h"

namespace py = pybind11;

namespace wavenet_rt {

void bind_performer(py::module_& m) {
  py::class_<Performer>(m, "Performer", "MIDI -> conditioner -> voices -> engine -> mix (csrc/live/performer.h)")
      .def(py::init([](std::shared_ptr<Engine> engine, const std::string& features, int voices, int block,
                       float temperature, int32_t global_id, float gain, float strike_scale,
                       float sustain_scale, const std::vector<float>& velocity_curve_db) {
             PerformerOptions o;
             o.voices = voices;
             o.block = block;
             o.temperature = temperature;
             o.gain = gain;
             o.strike_scale = strike_scale;
             o.sustain_scale = sustain_scale;
             o.velocity_curve_db = velocity_curve_db;
             o.global_id = global_id;
             o.fixed_capacity = false;  // offline: every message of a file waits for its frame
             return std::make_unique<Performer>(std::move(engine), features, o);
           }),
           py::arg("engine"), py::arg("features"), py::arg("voices"), py::arg("block"), py::arg("temperature") = 1.0f,
           py::arg("global_id") = 0, py::kw_only(), py::arg("gain"), py::arg("strike_scale"),
           py::arg("sustain_scale"), py::arg("velocity_curve_db"))
      .def("reset", &Performer::reset, py::arg("seed"), py::call_guard<py::gil_scoped_release>())
      .def(
          "push",
          [](Performer& p, int64_t sample, const py::bytes& message) {
            const std::string bytes = message;
            p.push(sample, reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
          },
          py::arg("sample"), py::arg("message"), "queue raw MIDI bytes that take effect at model sample `sample`")
      .def(
          "generate",
          [](Performer& p, int n) {
            if (n < 1 || n > p.block()) throw py::value_error("n must be in [1, block]");
            py::array_t<float> out(n);
            float* data = out.mutable_data();
            {
              py::gil_scoped_release release;
              p.generate(n, data);
            }
            return out;
          },
          py::arg("n"), "the next n samples, voices mixed -> float32 (n,)")
      .def_property_readonly("samples", &Performer::samples)
      .def_property_readonly("temperature", &Performer::temperature)
      .def_property_readonly("global_id", &Performer::global_id)
      .def_property_readonly("ignored", &Performer::ignored);
}

void bind_synth(py::module_& m) {
  bind_performer(m);
  m.def("synth_callback_address", [] { return reinterpret_cast<uintptr_t>(&synth_audio_callback); },
        "address of the PortAudio stream callback (userdata: Synth.address)");
  py::class_<Synth>(m, "Synth", "the live synth (csrc/live/synth.h)")
      .def(py::init([](std::shared_ptr<Engine> engine, const std::string& features, int device_rate,
                       int device_channels, int target_frames, int block, float temperature, int32_t global_id,
                       uint64_t seed, bool record, int max_period, int voices, int max_block, int slack_frames,
                       float gain, float strike_scale, float sustain_scale,
                       const std::vector<float>& velocity_curve_db) {
             SynthOptions o;
             o.device_rate = device_rate;
             o.device_channels = device_channels;
             o.target_frames = target_frames;
             o.block = block;
             o.temperature = temperature;
             o.global_id = global_id;
             o.seed = seed;
             o.record = record;
             o.max_period = max_period;
             o.voices = voices;
             o.max_block = max_block;
             o.slack_frames = slack_frames;
             o.gain = gain;
             o.strike_scale = strike_scale;
             o.sustain_scale = sustain_scale;
             o.velocity_curve_db = velocity_curve_db;
             return std::make_unique<Synth>(std::move(engine), features, o);
           }),
           py::arg("engine"), py::arg("features"), py::arg("device_rate"), py::arg("device_channels"),
           py::arg("target_frames"), py::arg("block"), py::arg("temperature") = 1.0f, py::arg("global_id") = 0,
           py::arg("seed") = 0, py::arg("record") = false, py::arg("max_period") = 8192,
           py::arg("voices") = 0, py::arg("max_block") = SynthOptions{}.max_block, py::arg("slack_frames") = 0,
           py::kw_only(), py::arg("gain"), py::arg("strike_scale"),
           py::arg("sustain_scale"), py::arg("velocity_curve_db"))
      .def_property_readonly("address", [](Synth& s) { return reinterpret_cast<uintptr_t>(&s); })
      .def_property_readonly("latency_seconds", &Synth::latency_seconds)
      .def("start", &Synth::start, py::call_guard<py::gil_scoped_release>())
      .def("stop", &Synth::stop, py::call_guard<py::gil_scoped_release>())
      .def("start_null_output", &Synth::start_null_output, py::arg("period"))
      .def(
          "push_midi",
          [](Synth& s, const py::bytes& message, int64_t time_ns) {
            const std::string bytes = message;
            return s.push_midi(reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()), time_ns);
          },
          py::arg("message"), py::arg("time_ns"), "queue raw MIDI bytes that arrived at time_ns (monotonic)")
      .def(
          "push_midi_at_frame",
          [](Synth& s, const py::bytes& message, int64_t frame) {
            const std::string bytes = message;
            return s.push_midi_at_frame(reinterpret_cast<const uint8_t*>(bytes.data()),
                                        static_cast<int>(bytes.size()), frame);
          },
          py::arg("message"), py::arg("frame"),
          "queue raw MIDI bytes at output frame `frame` from the thread that calls the audio callback (as a "
          "plugin's run() does)")
      .def("frame_latency", &Synth::frame_latency)
      .def(
          "read_recording",
          [](Synth& s, size_t max_frames) {
            std::vector<float> frames(max_frames);
            const size_t got = s.read_recording(frames.data(), max_frames);
            return py::array_t<float>(static_cast<py::ssize_t>(got), frames.data());
          },
          py::arg("max_frames"))
      .def("counters", [](const Synth& s) {
        const SynthCounters c = s.counters();
        py::dict d;
        d["callbacks"] = c.callbacks;
        d["first_callback_ns"] = c.first_callback_ns;
        d["last_callback_ns"] = c.last_callback_ns;
        d["frames_delivered"] = c.frames_delivered;
        d["underruns"] = c.underruns;
        d["underrun_frames"] = c.underrun_frames;
        d["overruns"] = c.overruns;
        d["device_xruns"] = c.device_xruns;
        d["underruns_near_device_xrun"] = c.underruns_near_device_xrun;
        d["ring_frames"] = c.ring_frames;
        d["target_frames"] = c.target_frames;
        d["period_frames"] = c.period_frames;
        d["blocks"] = c.blocks;
        d["block_seconds_last"] = c.block_seconds_last;
        d["block_seconds_max"] = c.block_seconds_max;
        d["block_seconds_total"] = c.block_seconds_total;
        d["block_audio_seconds"] = c.block_audio_seconds;
        d["callback_seconds_max"] = c.callback_seconds_max;
        d["callback_cpu_seconds_max"] = c.callback_cpu_seconds_max;
        d["slow_callbacks"] = c.slow_callbacks;
        d["midi_events"] = c.midi_events;
        d["midi_ignored"] = c.midi_ignored;
        d["midi_late"] = c.midi_late;
        d["midi_dropped"] = c.midi_dropped;
        d["active_keys"] = c.active_keys;
        d["record_dropped"] = c.record_dropped;
        d["temperature"] = c.temperature;
        d["global_id"] = c.global_id;
        d["error"] = c.error;
        return d;
      });
}

}  // namespace wavenet_rt
