// The wavenet_rt LV2 instrument: a thin face over the live synth's own path. By default the synth's
// generator thread computes `ahead` ms in advance behind its lock-free ring and run() only copies (a model
// that needs more than one core still plays); with ahead 0, run() itself places each MIDI event on the model
// sample it falls on and makes exactly the samples its block needs (performer + resampler), so any block size
// plays what `render` plays. Either way events land sample-exactly, a fixed latency later that the latency
// port reports. Models load in the worker thread and are swapped in by work_response(); run() never
// allocates or locks, and waits only when the host is freewheeling (not in real time).
#include <lv2/atom/atom.h>
#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/buf-size/buf-size.h>
#include <lv2/core/lv2.h>
#include <lv2/log/log.h>
#include <lv2/log/logger.h>
#include <lv2/midi/midi.h>
#include <lv2/options/options.h>
#include <lv2/patch/patch.h>
#include <lv2/state/state.h>
#include <lv2/urid/urid.h>
#include <lv2/worker/worker.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/model_file.h"
#include "core/sampling.h"
#include "core/thread_cpu_time.h"
#include "live/performer.h"
#include "live/resampler.h"
#include "live/synth.h"

namespace {

using namespace wavenet_rt;

constexpr const char* kPluginUri = "urn:wavenet_rt:lv2:synth";
constexpr const char* kModelUri = "urn:wavenet_rt:lv2:model";
constexpr const char* kDefaultModel = "default.safetensors";  // in the bundle, copied there by the build
constexpr int kBlock = 256;         // model samples per performer call, computing in run()
constexpr int kAheadBlock = 4;      // and in the generator thread (as play's: the margin is one block)
constexpr float kDefaultAheadMs = 10.0f;  // as play's default --latency, without its stall allowance at long periods
constexpr float kDefaultSleepS = 0.5f;    // as the players' --sleep-after and the Turtle's default (one test checks)
constexpr int kMaxPeriod = 8192;    // frames the ring takes from one run() at a time
constexpr int kMidiCapacity = 4096; // MIDI messages waiting for their frame, preallocated
constexpr size_t kMaxPath = 4096;

enum Port {
  kMidiIn = 0, kAudioOut, kGainDb, kTemperature, kVoices, kSleep, kLatency, kNotify, kLoad, kAhead, kFreewheel,
  kUnderruns, kPorts
};

// What a player is built for: the ports that rebuild it when they change.
struct PlayerChoice {
  int32_t voices;  // -1: the model's own
  float sleep;     // seconds
  float ahead;     // ms; 0: compute in run()
  bool operator!=(const PlayerChoice& o) const { return voices != o.voices || sleep != o.sleep || ahead != o.ahead; }
};

// One model playing at the host's rate, made in the worker: either a synth whose generator thread runs ahead,
// or a performer and resampler that run() drives itself.
struct Player {
  std::shared_ptr<Engine> engine;
  std::unique_ptr<Synth> synth;
  std::unique_ptr<Performer> performer;
  std::unique_ptr<Resampler> resampler;
  std::vector<float> model_audio, host_audio;  // scratch: one performer block, its resampled output
  int carry = 0;           // resampled outputs made ahead of the host, at the front of host_audio
  int carry_at = 0;
  int64_t frames = 0;      // host frames played since this player started
  PlayerChoice choice{};
  float model_temperature = 1.0f;  // the model file's own: what the temperature port's -1 asks for
  double busy_seen = 0, generated_seen = 0;  // the synth's meters at the last load reading
};

// Worker messages: a model to load (with what to build it for), or a player to free.
struct LoadRequest {
  enum Kind : int32_t { kLoad, kFree } kind;
  PlayerChoice choice;
  Player* player;  // kFree
  char path[kMaxPath];
};

struct LoadResponse {
  Player* player;  // null: the load failed (logged), the plugin plays silence
  char path[kMaxPath];
};

struct Plugin {
  double rate = 48000;
  int host_block = 0;  // the host's usual cycle in frames, if it says (host_block())
  std::string bundle;
  LV2_URID_Map* map = nullptr;
  LV2_Worker_Schedule* schedule = nullptr;
  LV2_Log_Logger logger{};
  struct {
    LV2_URID midi_event, atom_path, atom_urid, atom_object, patch_set, patch_get, patch_property, patch_value, model;
  } uris{};
  const LV2_Atom_Sequence* midi_in = nullptr;
  LV2_Atom_Sequence* notify = nullptr;
  LV2_Atom_Forge forge{};
  float* out = nullptr;
  const float* control[kPorts] = {};
  float* latency = nullptr;
  float* load = nullptr;
  float* underruns = nullptr;

  Player* player = nullptr;
  char path[kMaxPath] = {};  // the model chosen last (saved in the state), loaded or not
  bool loading = false;      // a load is in the worker: no second one until it answers
  bool announce = true;      // tell the host (notify port) which model is chosen: at start, on change, on patch:Get
  LoadRequest request{};     // run()'s message to the worker, preallocated
  // The load port: the largest share of its block's duration that one run() spent computing (CPU time, in
  // %), over each quarter second of host frames; shown once that quarter second is complete.
  double load_peak = 0;
  int64_t load_frames = 0;
  float load_shown = 0;
};

std::string bundle_path(const char* b) {
  std::string s = b ? b : "";
  if (!s.empty() && s.back() != '/') s += '/';
  return s;
}

void copy_path(char* dst, const char* src) {
  const size_t n = strnlen(src, kMaxPath - 1);  // longer paths are cut (and then not found)
  std::memmove(dst, src, n);
  dst[n] = '\0';
}

int clamp_voices(float v) { return std::clamp(static_cast<int>(std::lround(v)), -1, 64); }

// The generator thread's synth: a ring `ahead` ms deep at the host's rate, events placed by host frame.
std::unique_ptr<Synth> make_synth(const Plugin* p, std::shared_ptr<Engine> engine, const ModelFile& model,
                                  int voices, float ahead_ms) {
  SynthOptions so;
  so.device_rate = static_cast<int>(p->rate);
  so.device_channels = 1;
  so.target_frames = std::max(1, static_cast<int>(std::lround(ahead_ms * 1e-3 * p->rate)));
  so.prefill_frames = 0;  // the ring starts at its depth: events from the first run() on land exactly
  so.block = kAheadBlock;
  so.max_period = kMaxPeriod;
  so.voices = voices;
  so.gain = model.gain;
  so.strike_scale = model.strike_scale;
  so.sustain_scale = model.sustain_scale;
  so.velocity_curve_db = model.velocity_curve_db;
  auto synth = std::make_unique<Synth>(std::move(engine), model.features, so);
  synth->note_period(p->host_block);  // so the first cycle finds the ring deep enough, and the latency holds
  synth->start();
  return synth;
}

// Builds a player for `path` (worker thread or instantiation). On failure logs why and returns null.
Player* load_player(Plugin* p, const char* path, const PlayerChoice& choice) {
  try {
    std::unique_ptr<ModelFile> model = read_model_file(path);
    const ModelConfig& c = model->weights.config;
    const int v = choice.voices < 0 ? model->voices : (c.cond_channels ? choice.voices : 0);
    const bool ahead = choice.ahead > 0;
    EngineOptions options;
    options.streams = std::max(1, v);
    options.threads = ahead ? 0 : 1;  // the generator thread may share out its streams; run() waits on no thread
    options.precision = "fp16";  // as the command-line players store the weights (wavenet_rt/voice_options.py)
    // Seconds to frames as wavenet_rt/engine.py rounds them, less a hair: the port's float holds 0.3 s as
    // 0.30000001, which must not round up to one frame more than 0.3 does.
    const double frames = static_cast<double>(choice.sleep) * c.sample_rate / c.cond_hop;
    options.sleep_after_frames = c.cond_channels ? static_cast<int>(std::ceil(frames - 1e-4)) : 0;
    auto player = std::make_unique<Player>();
    player->engine = make_engine("cpu", model->weights, options);
    player->choice = choice;
    player->model_temperature = model->temperature;
    if (ahead) {
      player->synth = make_synth(p, player->engine, *model, v, choice.ahead);
    } else {
      PerformerOptions po;
      po.voices = v;
      po.gain = model->gain;
      po.strike_scale = model->strike_scale;
      po.sustain_scale = model->sustain_scale;
      po.velocity_curve_db = model->velocity_curve_db;
      po.block = kBlock;
      po.midi_capacity = kMidiCapacity;
      po.fixed_capacity = true;
      player->performer = std::make_unique<Performer>(player->engine, model->features, po);
      player->resampler = std::make_unique<Resampler>(c.sample_rate, static_cast<int>(p->rate), kBlock);
      player->model_audio.resize(kBlock);
      player->host_audio.resize(player->resampler->max_output(kBlock));
    }
    lv2_log_note(&p->logger, "wavenet_rt: loaded %s (%d voice(s), %d Hz model at %d Hz, %s)\n", path, v,
                 c.sample_rate, static_cast<int>(p->rate), ahead ? "computed ahead" : "computed in run()");
    return player.release();
  } catch (const std::exception& err) {
    lv2_log_error(&p->logger, "wavenet_rt: cannot play model %s: %s; the plugin is silent\n", path, err.what());
    return nullptr;
  }
}

// Asks the worker for a new player (run() only). Nothing allocated: the request is the plugin's own.
void request_load(Plugin* p, const char* path, const PlayerChoice& choice) {
  if (!p->schedule || p->loading) return;
  p->request.kind = LoadRequest::kLoad;
  p->request.choice = choice;
  p->request.player = nullptr;
  copy_path(p->request.path, path);
  const uint32_t size = static_cast<uint32_t>(offsetof(LoadRequest, path) + std::strlen(p->request.path) + 1);
  if (p->schedule->schedule_work(p->schedule->handle, size, &p->request) == LV2_WORKER_SUCCESS) p->loading = true;
}

// Which model path a patch:Set of the model parameter carries, or null.
const char* model_path_set(Plugin* p, const LV2_Atom_Event* ev) {
  if (ev->body.type != p->uris.atom_object) return nullptr;
  const auto* obj = reinterpret_cast<const LV2_Atom_Object*>(&ev->body);
  if (obj->body.otype != p->uris.patch_set) return nullptr;
  const LV2_Atom* property = nullptr;
  const LV2_Atom* value = nullptr;
  lv2_atom_object_get(obj, p->uris.patch_property, &property, p->uris.patch_value, &value, 0);
  if (!property || property->type != p->uris.atom_urid ||
      reinterpret_cast<const LV2_Atom_URID*>(property)->body != p->uris.model) {
    return nullptr;
  }
  if (!value || value->type != p->uris.atom_path || value->size < 1) return nullptr;
  const char* s = static_cast<const char*>(LV2_ATOM_BODY_CONST(value));
  return s[value->size - 1] == '\0' ? s : nullptr;
}

// Fills out[0, n) from the player's performer: carried outputs first, then performer blocks just long
// enough to make the rest through the resampler.
void compute(Player* pl, float* out, uint32_t n) {
  uint32_t done = 0;
  while (done < n) {
    if (pl->carry == 0) {
      Resampler& r = *pl->resampler;
      // The next output (index pl->frames + done) needs model samples up to floor(index * down / up).
      const int64_t index = pl->frames + done + (n - done - 1);
      const int64_t needed = index * r.down() / r.up() + 1 - pl->performer->samples();
      const int k = static_cast<int>(std::clamp<int64_t>(needed, 1, kBlock));
      pl->performer->generate(k, pl->model_audio.data());
      pl->carry = r.process(pl->model_audio.data(), k, pl->host_audio.data());
      pl->carry_at = 0;
    }
    const int take = std::min<int>(pl->carry, static_cast<int>(n - done));
    std::memcpy(out + done, pl->host_audio.data() + pl->carry_at, sizeof(float) * take);
    pl->carry -= take;
    pl->carry_at += take;
    done += take;
  }
}

// Fills out[0, n) from the synth's ring; freewheeling (an export), waits for what the generator has not made.
void take_from_ring(Synth* synth, float* out, uint32_t n, bool freewheel) {
  for (uint32_t done = 0; done < n;) {
    const uint32_t chunk = std::min<uint32_t>(n - done, kMaxPeriod);
    if (freewheel) synth->await_frames(chunk);
    synth->audio_callback(out + done, chunk, 0);
    done += chunk;
  }
}

// The notify port's sequence for this cycle: a patch:Set naming the chosen model when there is news.
void announce(Plugin* p) {
  if (!p->notify) return;
  const uint32_t capacity = p->notify->atom.size;
  lv2_atom_forge_set_buffer(&p->forge, reinterpret_cast<uint8_t*>(p->notify), capacity);
  LV2_Atom_Forge_Frame sequence, object;
  lv2_atom_forge_sequence_head(&p->forge, &sequence, 0);
  if (p->announce) {
    lv2_atom_forge_frame_time(&p->forge, 0);
    lv2_atom_forge_object(&p->forge, &object, 0, p->uris.patch_set);
    lv2_atom_forge_key(&p->forge, p->uris.patch_property);
    lv2_atom_forge_urid(&p->forge, p->uris.model);
    lv2_atom_forge_key(&p->forge, p->uris.patch_value);
    // a buffer too small for the path leaves the news for the next cycle
    if (lv2_atom_forge_path(&p->forge, p->path, static_cast<uint32_t>(std::strlen(p->path)))) p->announce = false;
    lv2_atom_forge_pop(&p->forge, &object);
  }
  lv2_atom_forge_pop(&p->forge, &sequence);
}

// The host's usual cycle from its options: its nominal block length, else its largest (jalv gives only that,
// its JACK period), else 0.
int host_block(LV2_URID_Map* map, const LV2_Options_Option* options) {
  const LV2_URID nominal = map->map(map->handle, LV2_BUF_SIZE__nominalBlockLength);
  const LV2_URID largest = map->map(map->handle, LV2_BUF_SIZE__maxBlockLength);
  const LV2_URID int_type = map->map(map->handle, LV2_ATOM__Int);
  int found = 0;
  for (const LV2_Options_Option* o = options; o && o->key; ++o) {
    if ((o->key != nominal && o->key != largest) || o->type != int_type || o->size != sizeof(int32_t)) continue;
    const int frames = std::clamp(*static_cast<const int32_t*>(o->value), 0, kMaxPeriod);
    if (o->key == nominal) return frames;
    found = frames;
  }
  return found;
}

LV2_Handle instantiate(const LV2_Descriptor*, double rate, const char* bundle, const LV2_Feature* const* features) {
  auto p = std::make_unique<Plugin>();
  p->rate = rate;
  p->bundle = bundle_path(bundle);
  LV2_Log_Log* log = nullptr;
  const LV2_Options_Option* options = nullptr;
  for (int i = 0; features && features[i]; ++i) {
    if (!std::strcmp(features[i]->URI, LV2_URID__map)) p->map = static_cast<LV2_URID_Map*>(features[i]->data);
    if (!std::strcmp(features[i]->URI, LV2_WORKER__schedule)) {
      p->schedule = static_cast<LV2_Worker_Schedule*>(features[i]->data);
    }
    if (!std::strcmp(features[i]->URI, LV2_LOG__log)) log = static_cast<LV2_Log_Log*>(features[i]->data);
    if (!std::strcmp(features[i]->URI, LV2_OPTIONS__options)) options = static_cast<const LV2_Options_Option*>(features[i]->data);
  }
  lv2_log_logger_init(&p->logger, p->map, log);
  if (p->map) p->host_block = host_block(p->map, options);
  if (!p->map || !p->schedule) {
    lv2_log_error(&p->logger, "wavenet_rt: the host must provide urid:map and worker:schedule\n");
    return nullptr;
  }
  if (rate < 1 || rate > 1e6 || rate != std::floor(rate)) {
    lv2_log_error(&p->logger, "wavenet_rt: unsupported sample rate %f\n", rate);
    return nullptr;
  }
  LV2_URID_Map* m = p->map;
  p->uris = {m->map(m->handle, LV2_MIDI__MidiEvent),   m->map(m->handle, LV2_ATOM__Path),
             m->map(m->handle, LV2_ATOM__URID),        m->map(m->handle, LV2_ATOM__Object),
             m->map(m->handle, LV2_PATCH__Set),        m->map(m->handle, LV2_PATCH__Get),
             m->map(m->handle, LV2_PATCH__property),
             m->map(m->handle, LV2_PATCH__value),      m->map(m->handle, kModelUri)};
  lv2_atom_forge_init(&p->forge, m);
  copy_path(p->path, (p->bundle + kDefaultModel).c_str());
  return p.release();
}

void connect_port(LV2_Handle h, uint32_t port, void* data) {
  Plugin* p = static_cast<Plugin*>(h);
  if (port == kMidiIn) p->midi_in = static_cast<const LV2_Atom_Sequence*>(data);
  else if (port == kAudioOut) p->out = static_cast<float*>(data);
  else if (port == kLatency) p->latency = static_cast<float*>(data);
  else if (port == kNotify) p->notify = static_cast<LV2_Atom_Sequence*>(data);
  else if (port == kLoad) p->load = static_cast<float*>(data);
  else if (port == kUnderruns) p->underruns = static_cast<float*>(data);
  else if (port < kPorts) p->control[port] = static_cast<const float*>(data);
}

PlayerChoice chosen(const Plugin* p) {
  return {p->control[kVoices] ? clamp_voices(*p->control[kVoices]) : -1,
          p->control[kSleep] ? std::clamp(*p->control[kSleep], 0.0f, 3600.0f) : kDefaultSleepS,
          p->control[kAhead] ? std::clamp(*p->control[kAhead], 0.0f, 1000.0f) : kDefaultAheadMs};
}

// Frames from an event to its sound: the resampler's delay, and the ring's when computing ahead.
float latency_frames(const Plugin* p, const Player* pl) {
  if (!pl) return 0.0f;
  if (pl->synth) return static_cast<float>(pl->synth->frame_latency());
  return static_cast<float>(std::round(pl->resampler->delay_seconds() * p->rate));
}

// A MIDI event at frame offset `offset` of this block, placed on the model sample it falls on.
void place_midi(Player* pl, const LV2_Atom_Event* ev, uint32_t n) {
  const auto* bytes = static_cast<const uint8_t*>(LV2_ATOM_BODY_CONST(&ev->body));
  const int size = static_cast<int>(ev->body.size);
  const int64_t frame = pl->frames + std::min<int64_t>(ev->time.frames, n);
  if (pl->synth) {
    pl->synth->push_midi_at_frame(bytes, size, frame);
    return;
  }
  // The first model sample at or after host frame F's instant is one the performer has not yet made, so
  // no event is late and every event lands where a render puts it.
  pl->performer->push(pl->resampler->input_at_or_after(frame), bytes, size);
}

// One block: MIDI and parameter messages, then the audio.
void run_block(Plugin* p, uint32_t n) {
  Player* pl = p->player;
  if (pl && pl->synth) pl->synth->note_period(n);  // before any event is placed: the ring's depth is final
  if (p->latency) *p->latency = latency_frames(p, pl);
  const PlayerChoice choice = chosen(p);
  if (p->midi_in) {
    LV2_ATOM_SEQUENCE_FOREACH(p->midi_in, ev) {
      if (const char* path = model_path_set(p, ev)) {
        copy_path(p->path, path);
        p->loading = false;  // a newer choice replaces any answer still to come (it is freed on arrival)
        request_load(p, p->path, choice);
        p->announce = true;
      } else if (ev->body.type == p->uris.atom_object &&
                 reinterpret_cast<const LV2_Atom_Object*>(&ev->body)->body.otype == p->uris.patch_get) {
        p->announce = true;
      } else if (pl && ev->body.type == p->uris.midi_event && ev->body.size >= 1) {
        place_midi(pl, ev, n);
      }
    }
  }
  if (pl && !p->loading && choice != pl->choice) request_load(p, p->path, choice);
  announce(p);
  if (p->underruns) *p->underruns = pl && pl->synth ? static_cast<float>(pl->synth->underruns()) : 0.0f;
  if (!p->out) return;
  if (!pl) {
    std::fill(p->out, p->out + n, 0.0f);
    return;
  }
  // Below 0 (the port's default, -1): the model's own temperature, as the command-line players default to it.
  const float asked = p->control[kTemperature] ? *p->control[kTemperature] : -1.0f;
  const float temperature = asked < 0 ? pl->model_temperature : std::min(asked, kMaxTemperature);
  const bool freewheel = p->control[kFreewheel] && *p->control[kFreewheel] > 0.5f;
  if (pl->synth) {
    pl->synth->set_temperature(temperature);
    take_from_ring(pl->synth.get(), p->out, n, freewheel);
  } else {
    pl->performer->set_temperature(temperature);
    compute(pl, p->out, n);
  }
  pl->frames += n;
  const float gain_db = p->control[kGainDb] ? std::clamp(*p->control[kGainDb], -90.0f, 24.0f) : 0.0f;
  if (gain_db != 0.0f) {
    const float gain = std::pow(10.0f, gain_db / 20.0f);
    for (uint32_t i = 0; i < n; ++i) p->out[i] *= gain;
  }
}

// The generator thread's engine time as a share of the model audio it made since the last reading (%).
double generator_load(Player* pl) {
  if (!pl || !pl->synth) return 0;
  const double busy = pl->synth->busy_seconds(), generated = pl->synth->generated_seconds();
  const double share = generated > pl->generated_seen ? 100.0 * (busy - pl->busy_seen) / (generated - pl->generated_seen) : 0;
  pl->busy_seen = busy;
  pl->generated_seen = generated;
  return share;
}

// A run() whose compute exceeds its block's duration makes the host late whatever else runs, and a generator
// busier than real time empties its ring: the load port tells a performer (and the soak in
// benchmarks/latency.py) whether the plugin's own work ever came near either.
void measure_load(Plugin* p, int64_t cpu_ns, uint32_t n) {
  if (n == 0) return;
  p->load_peak = std::max(p->load_peak, 100.0 * 1e-9 * static_cast<double>(cpu_ns) * p->rate / n);
  p->load_frames += n;
  if (p->load_frames * 4 >= static_cast<int64_t>(p->rate)) {
    p->load_shown = static_cast<float>(std::max(p->load_peak, generator_load(p->player)));
    p->load_peak = 0;
    p->load_frames = 0;
  }
  if (p->load) *p->load = p->load_shown;
}

void run(LV2_Handle h, uint32_t n) {
  Plugin* p = static_cast<Plugin*>(h);
  const int64_t started = thread_cpu_ns();
  run_block(p, n);
  measure_load(p, thread_cpu_ns() - started, n);
}

// Not real-time (the instantiation class): the player is built for the controls' values as they are now,
// from its first sample; a deactivated plugin holds none, so it costs no CPU.
void activate(LV2_Handle h) {
  Plugin* p = static_cast<Plugin*>(h);
  delete p->player;
  p->player = load_player(p, p->path, chosen(p));
  p->loading = false;
}

void deactivate(LV2_Handle h) {
  Plugin* p = static_cast<Plugin*>(h);
  delete p->player;
  p->player = nullptr;
}

void cleanup(LV2_Handle h) {
  Plugin* p = static_cast<Plugin*>(h);
  delete p->player;
  delete p;
}

LV2_Worker_Status work(LV2_Handle h, LV2_Worker_Respond_Function respond, LV2_Worker_Respond_Handle handle,
                       uint32_t size, const void* data) {
  Plugin* p = static_cast<Plugin*>(h);
  if (size < offsetof(LoadRequest, path)) return LV2_WORKER_ERR_UNKNOWN;
  const auto* req = static_cast<const LoadRequest*>(data);
  if (req->kind == LoadRequest::kFree) {
    delete req->player;
    return LV2_WORKER_SUCCESS;
  }
  LoadResponse response{};
  copy_path(response.path, req->path);
  response.player = load_player(p, req->path, req->choice);
  return respond(handle, sizeof(response), &response);
}

// In the audio thread, between run()s: swaps the new player in and hands the old one back to be freed.
LV2_Worker_Status work_response(LV2_Handle h, uint32_t size, const void* data) {
  Plugin* p = static_cast<Plugin*>(h);
  if (size != sizeof(LoadResponse)) return LV2_WORKER_ERR_UNKNOWN;
  const auto* response = static_cast<const LoadResponse*>(data);
  Player* old = response->player;
  if (std::strcmp(response->path, p->path) == 0) {  // the answer to the latest choice: play it
    old = p->player;
    p->player = response->player;
    p->loading = false;
  }
  if (old) {
    LoadRequest& req = p->request;
    req.kind = LoadRequest::kFree;
    req.player = old;
    req.path[0] = '\0';
    p->schedule->schedule_work(p->schedule->handle, static_cast<uint32_t>(offsetof(LoadRequest, path) + 1), &req);
  }
  return LV2_WORKER_SUCCESS;
}

LV2_State_Status save(LV2_Handle h, LV2_State_Store_Function store, LV2_State_Handle handle, uint32_t,
                      const LV2_Feature* const* features) {
  Plugin* p = static_cast<Plugin*>(h);
  LV2_State_Map_Path* map_path = nullptr;
  LV2_State_Free_Path* free_path = nullptr;
  for (int i = 0; features && features[i]; ++i) {
    if (!std::strcmp(features[i]->URI, LV2_STATE__mapPath)) map_path = static_cast<LV2_State_Map_Path*>(features[i]->data);
    if (!std::strcmp(features[i]->URI, LV2_STATE__freePath)) free_path = static_cast<LV2_State_Free_Path*>(features[i]->data);
  }
  char* abstract = map_path ? map_path->abstract_path(map_path->handle, p->path) : nullptr;
  const char* value = abstract ? abstract : p->path;
  const LV2_State_Status status = store(handle, p->uris.model, value, std::strlen(value) + 1, p->uris.atom_path,
                                        LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE);
  if (abstract) {
    if (free_path) free_path->free_path(free_path->handle, abstract);
    else std::free(abstract);
  }
  return status;
}

// Restore is never concurrent with run() (instantiation threading class): it loads the model here.
LV2_State_Status restore(LV2_Handle h, LV2_State_Retrieve_Function retrieve, LV2_State_Handle handle, uint32_t,
                         const LV2_Feature* const* features) {
  Plugin* p = static_cast<Plugin*>(h);
  size_t size = 0;
  uint32_t type = 0, flags = 0;
  const void* value = retrieve(handle, p->uris.model, &size, &type, &flags);
  if (!value) return LV2_STATE_SUCCESS;  // no model saved: keep the one playing
  if (type != p->uris.atom_path || size < 1 || static_cast<const char*>(value)[size - 1] != '\0') {
    lv2_log_error(&p->logger, "wavenet_rt: the saved model is not a path\n");
    return LV2_STATE_ERR_BAD_TYPE;
  }
  LV2_State_Map_Path* map_path = nullptr;
  for (int i = 0; features && features[i]; ++i) {
    if (!std::strcmp(features[i]->URI, LV2_STATE__mapPath)) map_path = static_cast<LV2_State_Map_Path*>(features[i]->data);
  }
  const char* saved = static_cast<const char*>(value);
  char* absolute = map_path ? map_path->absolute_path(map_path->handle, saved) : nullptr;
  copy_path(p->path, absolute ? absolute : saved);
  std::free(absolute);
  p->announce = true;
  if (p->player) {  // playing: the saved model plays from now on (a deactivated plugin loads it when activated)
    delete p->player;
    p->player = load_player(p, p->path, chosen(p));
    p->loading = false;
  }
  return LV2_STATE_SUCCESS;
}

const void* extension_data(const char* uri) {
  static const LV2_Worker_Interface worker{work, work_response, nullptr};
  static const LV2_State_Interface state{save, restore};
  if (!std::strcmp(uri, LV2_WORKER__interface)) return &worker;
  if (!std::strcmp(uri, LV2_STATE__interface)) return &state;
  return nullptr;
}

const LV2_Descriptor descriptor{kPluginUri, instantiate, connect_port, activate, run, deactivate, cleanup, extension_data};

}  // namespace

extern "C" LV2_SYMBOL_EXPORT const LV2_Descriptor* lv2_descriptor(uint32_t index) {
  return index == 0 ? &descriptor : nullptr;
}
