// An offline LV2 host on the lilv C API, for tests/test_lv2.py: finds the plugin through LV2_PATH like any
// host, feeds it MIDI in blocks of the sizes asked for, runs its worker between blocks, and counts every
// allocation and mutex lock made inside run() and work_response() (it replaces malloc and
// pthread_mutex_lock: alloc_counter.h; process-wide, so a thread the plugin runs beside run() is counted too),
// and times each run() from outside to check the plugin's load port. Also saves and restores its state through lilv, and
// offers the two independent references the tests need: the resampler alone and the C++ model reader.
//   lv2_host play URI RATE BLOCKS EVENTS FRAMES OUT.f32 [--model PATH] [--set SYMBOL=VALUE]...
//   lv2_host state URI MODEL          lv2_host resample IN_RATE OUT_RATE IN.f32 OUT.f32
//   lv2_host model PATH
#include <dlfcn.h>
#include <lilv/lilv.h>
#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/log/log.h>
#include <lv2/midi/midi.h>
#include <lv2/patch/patch.h>
#include <lv2/state/state.h>
#include <lv2/urid/urid.h>
#include <lv2/worker/worker.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/model_file.h"
#include "core/thread_cpu_time.h"
#include "live/resampler.h"

#include "alloc_counter.h"

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "lv2_host: %s\n", why.c_str());
  std::exit(2);
}

// urid:map and urid:unmap (everything is mapped outside run(): the plugin maps in instantiate()).
struct Urids {
  std::map<std::string, LV2_URID> ids;
  std::vector<std::string> names{""};
  LV2_URID_Map map{this, [](LV2_URID_Map_Handle h, const char* uri) { return static_cast<Urids*>(h)->id(uri); }};
  LV2_URID_Unmap unmap{this, [](LV2_URID_Unmap_Handle h, LV2_URID id) {
                         auto* u = static_cast<Urids*>(h);
                         return id < u->names.size() ? u->names[id].c_str() : static_cast<const char*>(nullptr);
                       }};
  LV2_URID id(const std::string& uri) {
    auto it = ids.find(uri);
    if (it != ids.end()) return it->second;
    names.push_back(uri);
    return ids[uri] = static_cast<LV2_URID>(names.size() - 1);
  }
};

// The worker: fixed slots (no allocation when run() schedules), drained by the host between blocks.
struct Queue {
  static constexpr int kSlots = 16, kBytes = 8192;
  unsigned char data[kSlots][kBytes];
  uint32_t sizes[kSlots];
  int count = 0;
  LV2_Worker_Status push(uint32_t size, const void* bytes) {
    if (count == kSlots || size > kBytes) return LV2_WORKER_ERR_NO_SPACE;
    std::memcpy(data[count], bytes, size);
    sizes[count++] = size;
    return LV2_WORKER_SUCCESS;
  }
};

int log_vprintf(LV2_Log_Handle, LV2_URID, const char* fmt, va_list ap) {
  std::fprintf(stderr, "plugin log: ");
  return std::vfprintf(stderr, fmt, ap);
}
int log_printf(LV2_Log_Handle h, LV2_URID type, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const int n = log_vprintf(h, type, fmt, ap);
  va_end(ap);
  return n;
}

struct Host {
  LilvWorld* world = lilv_world_new();
  Urids urids;
  Queue requests, responses;
  LV2_Worker_Schedule schedule{this, [](LV2_Worker_Schedule_Handle h, uint32_t size, const void* data) {
                                 return static_cast<Host*>(h)->requests.push(size, data);
                               }};
  LV2_Log_Log log{this, log_printf, log_vprintf};
  LV2_Feature map_f{LV2_URID__map, &urids.map}, unmap_f{LV2_URID__unmap, &urids.unmap};
  LV2_Feature schedule_f{LV2_WORKER__schedule, &schedule}, log_f{LV2_LOG__log, &log};
  const LV2_Feature* features[5] = {&map_f, &unmap_f, &schedule_f, &log_f, nullptr};
  const LilvPlugin* plugin = nullptr;

  explicit Host(const char* uri) {
    lilv_world_load_all(world);
    LilvNode* node = lilv_new_uri(world, uri);
    plugin = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(world), node);
    lilv_node_free(node);
    if (!plugin) die(std::string("no plugin ") + uri + " on LV2_PATH");
  }
  uint32_t port(const char* symbol) const {
    LilvNode* s = lilv_new_string(world, symbol);
    const LilvPort* p = lilv_plugin_get_port_by_symbol(plugin, s);
    lilv_node_free(s);
    if (!p) die(std::string("the plugin has no port ") + symbol);
    return lilv_port_get_index(plugin, p);
  }
};

// One plugin instance with its buffers connected; control inputs at their defaults.
struct Instance {
  Host& host;
  LilvInstance* instance;
  const LV2_Worker_Interface* worker;
  std::vector<float> controls;
  std::vector<float> out;
  alignas(8) unsigned char midi[65536];
  alignas(8) unsigned char notify[65536];
  std::string announced;  // the model path the plugin last named on its notify port
  LV2_Atom_Forge forge;
  long work_allocations = 0;  // made by the worker's work(), outside run()
  // The load port checked from outside: each run()'s CPU time as a share of its block, the peak per quarter
  // second of frames (the port's window), beside what the port shows when that quarter second completes.
  double rate;
  uint32_t load_port;
  double window_peak = 0;
  int64_t window_frames = 0;
  struct { long windows = 0; double port_max = 0, host_max = 0, min_ratio = INFINITY, above = 0; } load;

  Instance(Host& h, double rate_, int max_block) : host(h), rate(rate_), load_port(h.port("load")) {
    instance = lilv_plugin_instantiate(h.plugin, rate, h.features);
    if (!instance) die("instantiation failed");
    worker = static_cast<const LV2_Worker_Interface*>(lilv_instance_get_extension_data(instance, LV2_WORKER__interface));
    const uint32_t n = lilv_plugin_get_num_ports(h.plugin);
    controls.assign(n, 0.0f);
    std::vector<float> defaults(n, NAN);
    lilv_plugin_get_port_ranges_float(h.plugin, nullptr, nullptr, defaults.data());
    for (uint32_t i = 0; i < n; ++i) {
      if (!std::isnan(defaults[i])) controls[i] = defaults[i];
      lilv_instance_connect_port(instance, i, &controls[i]);
    }
    out.assign(max_block, 0.0f);
    lilv_instance_connect_port(instance, h.port("out"), out.data());
    lilv_instance_connect_port(instance, h.port("midi_in"), midi);
    lilv_instance_connect_port(instance, h.port("notify"), notify);
    lv2_atom_forge_init(&forge, &h.urids.map);
  }
  ~Instance() {
    if (active) lilv_instance_deactivate(instance);
    lilv_instance_free(instance);
  }
  // As a host does once the controls hold their first values (the plugin builds its player for them).
  void activate() {
    lilv_instance_activate(instance);
    active = true;
    begin_events();
  }
  bool active = false;
  void set(const char* symbol, float value) { controls[host.port(symbol)] = value; }

  LV2_Atom_Forge_Frame sequence{};
  void begin_events() {
    lv2_atom_forge_set_buffer(&forge, midi, sizeof(midi));
    lv2_atom_forge_sequence_head(&forge, &sequence, 0);
  }
  void midi_event(int64_t frame, const std::vector<uint8_t>& bytes) {
    lv2_atom_forge_frame_time(&forge, frame);
    lv2_atom_forge_atom(&forge, static_cast<uint32_t>(bytes.size()), host.urids.id(LV2_MIDI__MidiEvent));
    lv2_atom_forge_write(&forge, bytes.data(), static_cast<uint32_t>(bytes.size()));
  }
  void set_model(const std::string& path) {  // patch:Set of the model parameter, as a host's file chooser
    LV2_Atom_Forge_Frame object;
    lv2_atom_forge_frame_time(&forge, 0);
    lv2_atom_forge_object(&forge, &object, 0, host.urids.id(LV2_PATCH__Set));
    lv2_atom_forge_key(&forge, host.urids.id(LV2_PATCH__property));
    lv2_atom_forge_urid(&forge, host.urids.id("urn:wavenet_rt:lv2:model"));
    lv2_atom_forge_key(&forge, host.urids.id(LV2_PATCH__value));
    lv2_atom_forge_path(&forge, path.c_str(), static_cast<uint32_t>(path.size()));
    lv2_atom_forge_pop(&forge, &object);
  }

  void read_notify() {
    const auto* seq = reinterpret_cast<const LV2_Atom_Sequence*>(notify);
    if (seq->atom.type != host.urids.id(LV2_ATOM__Sequence)) return;
    LV2_ATOM_SEQUENCE_FOREACH(seq, ev) {
      if (ev->body.type != host.urids.id(LV2_ATOM__Object)) continue;
      const LV2_Atom* value = nullptr;
      lv2_atom_object_get(reinterpret_cast<const LV2_Atom_Object*>(&ev->body), host.urids.id(LV2_PATCH__value),
                          &value, 0);
      if (value && value->type == host.urids.id(LV2_ATOM__Path)) {
        announced = static_cast<const char*>(LV2_ATOM_BODY_CONST(value));
      }
    }
  }

  void check_load(int64_t cpu_ns, uint32_t n) {
    if (n == 0) return;  // as the plugin: an empty block has no duration to share
    window_peak = std::max(window_peak, 100.0 * 1e-9 * static_cast<double>(cpu_ns) * rate / n);
    window_frames += n;
    if (window_frames * 4 < static_cast<int64_t>(rate)) return;
    const double shown = controls[load_port];
    ++load.windows;
    load.port_max = std::max(load.port_max, shown);
    load.host_max = std::max(load.host_max, window_peak);
    load.min_ratio = std::min(load.min_ratio, shown / window_peak);
    load.above = std::max(load.above, shown - window_peak);  // the port's run() is inside the host's
    window_peak = 0;
    window_frames = 0;
  }

  // One cycle: run() and the worker's answers counted; then the worker does its queued work (not counted).
  void cycle(uint32_t n) {
    lv2_atom_forge_pop(&forge, &sequence);
    auto* out_seq = reinterpret_cast<LV2_Atom_Sequence*>(notify);
    out_seq->atom = {sizeof(notify) - sizeof(LV2_Atom), host.urids.id(LV2_ATOM__Chunk)};  // capacity, for the plugin
    counting.store(true);
    const int64_t started = wavenet_rt::thread_cpu_ns();
    lilv_instance_run(instance, n);
    check_load(wavenet_rt::thread_cpu_ns() - started, n);
    for (int i = 0; i < host.responses.count; ++i) {
      worker->work_response(lilv_instance_get_handle(instance), host.responses.sizes[i], host.responses.data[i]);
    }
    counting.store(false);
    host.responses.count = 0;
    read_notify();
    // work() is counted apart: its allocations (inside the plugin) show that the counter sees the plugin's.
    const long before = allocations.load(), locks_before = locks.load();
    counting.store(true);
    while (host.requests.count) {  // work() may not schedule; a response's follow-up is done next cycle
      Queue pending = host.requests;
      host.requests.count = 0;
      for (int i = 0; i < pending.count; ++i) {
        worker->work(
            lilv_instance_get_handle(instance),
            [](LV2_Worker_Respond_Handle h, uint32_t size, const void* data) {
              return static_cast<Host*>(h)->responses.push(size, data);
            },
            &host, pending.sizes[i], pending.data[i]);
      }
    }
    counting.store(false);
    work_allocations += allocations.load() - before;
    allocations.store(before);
    locks.store(locks_before);  // loading may lock (a thread's start); it is not run()
    begin_events();
  }
};

std::vector<int> parse_blocks(const std::string& text) {
  std::vector<int> blocks;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ',')) blocks.push_back(std::stoi(item));
  for (int b : blocks) {
    if (b < 1) die("block sizes must be >= 1");
  }
  if (blocks.empty()) die("no block sizes");
  return blocks;
}

int play(int argc, char** argv) {
  if (argc < 8) die("play URI RATE BLOCKS EVENTS FRAMES OUT.f32 [--model PATH] [--set SYMBOL=VALUE]...");
  Host host(argv[2]);
  const double rate = std::atof(argv[3]);
  const std::vector<int> blocks = parse_blocks(argv[4]);
  struct Event {
    int64_t frame;
    std::vector<uint8_t> bytes;
  };
  std::vector<Event> events;
  std::ifstream in(argv[5]);
  if (!in) die(std::string("cannot read ") + argv[5]);
  for (std::string line; std::getline(in, line);) {
    std::stringstream s(line);
    Event e;
    int b;
    if (!(s >> e.frame)) continue;
    while (s >> b) e.bytes.push_back(static_cast<uint8_t>(b));
    events.push_back(e);
  }
  const int64_t frames = std::atoll(argv[6]);
  int max_block = 0;
  for (int b : blocks) max_block = std::max(max_block, b);
  Instance inst(host, rate, max_block);
  std::string model;
  for (int i = 8; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--set")) {
      const std::string kv = argv[i + 1];
      const size_t eq = kv.find('=');
      if (eq == std::string::npos) die("--set SYMBOL=VALUE");
      inst.set(kv.substr(0, eq).c_str(), std::stof(kv.substr(eq + 1)));
    } else if (!std::strcmp(argv[i], "--model")) {
      model = argv[i + 1];
    } else {
      die(std::string("unknown option ") + argv[i]);
    }
  }
  inst.activate();
  // A chosen model loads through the worker (with the voices and sleep the ports say): run() asks for it in
  // the first cycle, the worker loads it after that run, and the second cycle's work_response swaps it in,
  // so the recording below starts at its frame 0.
  if (!model.empty()) {
    inst.set_model(model);
    inst.cycle(1);
    inst.cycle(1);
  }
  std::vector<float> audio(frames);
  size_t next = 0;
  int64_t t = 0;
  long cycles = 0;
  for (size_t k = 0; t < frames; ++k) {
    const uint32_t n = static_cast<uint32_t>(std::min<int64_t>(blocks[k % blocks.size()], frames - t));
    for (; next < events.size() && events[next].frame < t + n; ++next) {
      inst.midi_event(std::max<int64_t>(events[next].frame - t, 0), events[next].bytes);
    }
    inst.cycle(n);
    std::memcpy(audio.data() + t, inst.out.data(), sizeof(float) * n);
    t += n;
    ++cycles;
  }
  std::FILE* f = std::fopen(argv[7], "wb");
  if (!f || std::fwrite(audio.data(), sizeof(float), audio.size(), f) != audio.size()) die("cannot write output");
  std::fclose(f);
  std::printf("cycles %ld allocations %ld locks %ld latency %g underruns %g work_allocations %ld load_windows %ld "
              "load_port_max %g load_host_max %g load_min_ratio %g load_above_host %g announced %s\n", cycles,
              allocations.load(), locks.load(), inst.controls[host.port("latency")],
              inst.controls[host.port("underruns")], inst.work_allocations, inst.load.windows, inst.load.port_max,
              inst.load.host_max, inst.load.min_ratio, inst.load.above, inst.announced.c_str());
  return 0;
}

// Saves the state of an instance told to play MODEL, restores it into a fresh instance and saves that one:
// prints both saved states (Turtle), which should name MODEL.
int state(int argc, char** argv) {
  if (argc != 4) die("state URI MODEL");
  Host host(argv[2]);
  auto get_port = [](const char*, void*, uint32_t* size, uint32_t* type) -> const void* {
    *size = 0;
    *type = 0;
    return nullptr;
  };
  auto save = [&](Instance& inst) {
    LilvState* s = lilv_state_new_from_instance(host.plugin, inst.instance, &host.urids.map, nullptr, nullptr,
                                                nullptr, nullptr, get_port, nullptr, 0, host.features);
    if (!s) die("saving the state failed");
    char* text = lilv_state_to_string(host.world, &host.urids.map, &host.urids.unmap, s, "urn:wavenet_rt:test:state",
                                      nullptr);
    std::printf("%s\n----\n", text);
    lilv_free(text);
    return s;
  };
  Instance first(host, 48000, 64);
  first.activate();
  first.set_model(argv[3]);
  for (int i = 0; i < 3; ++i) first.cycle(64);
  LilvState* saved = save(first);
  Instance second(host, 48000, 64);
  second.activate();
  lilv_state_restore(saved, second.instance, nullptr, nullptr, 0, host.features);
  for (int i = 0; i < 2; ++i) second.cycle(64);
  lilv_state_free(save(second));
  lilv_state_free(saved);
  return 0;
}

std::vector<float> read_f32(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die(std::string("cannot read ") + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// The resampler alone (the plugin's path from the model's rate to the host's), in fixed blocks.
int resample(int argc, char** argv) {
  if (argc != 6) die("resample IN_RATE OUT_RATE IN.f32 OUT.f32");
  const std::vector<float> in = read_f32(argv[4]);
  wavenet_rt::Resampler r(std::atoi(argv[2]), std::atoi(argv[3]), 256);
  std::vector<float> out, scratch(r.max_output(256));
  for (size_t at = 0; at < in.size(); at += 256) {
    const int n = static_cast<int>(std::min<size_t>(256, in.size() - at));
    const int made = r.process(in.data() + at, n, scratch.data());
    out.insert(out.end(), scratch.begin(), scratch.begin() + made);
  }
  std::FILE* f = std::fopen(argv[5], "wb");
  if (!f || std::fwrite(out.data(), sizeof(float), out.size(), f) != out.size()) die("cannot write output");
  std::fclose(f);
  return 0;
}

// The C++ model reader: the config it found and a checksum of every tensor, or the error.
int model(int argc, char** argv) {
  if (argc != 3) die("model PATH");
  try {
    auto m = wavenet_rt::read_model_file(argv[2]);
    double sum = 0;
    for (float x : m->data) sum += x;
    const auto& c = m->weights.config;
    std::printf("ok floats %zu sum %.17g layers %d cond_channels %d sample_rate %d voices %d dc_blocker %.9g "
                "temperature %.9g strike_scale %.9g sustain_scale %.9g gain %.9g features %s velocity_curve_db ",
                m->data.size(), sum, c.layers(), c.cond_channels, c.sample_rate, m->voices, c.dc_blocker,
                m->temperature, m->strike_scale, m->sustain_scale, m->gain, m->features.c_str());
    for (size_t i = 0; i < m->velocity_curve_db.size(); ++i) std::printf("%s%.9g", i ? "," : "", m->velocity_curve_db[i]);
    std::printf("%s\n", m->velocity_curve_db.empty() ? "none" : "");
    return 0;
  } catch (const wavenet_rt::ModelFileError& err) {
    std::printf("error %s\n", err.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "play") return play(argc, argv);
  if (cmd == "state") return state(argc, argv);
  if (cmd == "resample") return resample(argc, argv);
  if (cmd == "model") return model(argc, argv);
  die("usage: lv2_host play|state|resample|model ...");
}
