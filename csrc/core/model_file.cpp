// read_model_file (model_file.h). A safetensors file is an 8-byte little-endian header length, a JSON header
// ({name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}) and the raw tensor bytes. The JSON
// reader below takes exactly what those headers hold (objects, arrays, strings, numbers, literals) and
// nothing more; the tensors are checked against the engines' own list (tensor_list.h).
#include "core/model_file.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "core/sampling.h"
#include "core/tensor_list.h"
#include "midi/velocity_curve.h"
#include "midi/voices.h"

namespace wavenet_rt {
namespace {

constexpr int kFormatVersion = 1;          // wavenet_rt/weights.py FORMAT_VERSION
constexpr uint64_t kMaxHeader = 1 << 24;   // a header larger than this is not one of ours

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  const Json* find(const std::string& key) const {
    for (const auto& m : members) {
      if (m.first == key) return &m.second;
    }
    return nullptr;
  }
};

class JsonReader {
 public:
  JsonReader(const std::string& text, const std::string& what) : s_(text), what_(what) {}

  Json document() {
    Json v = value(0);
    space();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw ModelFileError(what_ + " is not valid JSON (" + why + " at byte " + std::to_string(i_) + ")");
  }
  void space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool take(char c) {
    space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!take(c)) fail(std::string("expected '") + c + "'");
  }

  Json value(int depth) {
    if (depth > 16) fail("nested too deeply");
    space();
    if (i_ >= s_.size()) fail("unexpected end");
    Json v;
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.kind = Json::kObject;
      if (take('}')) return v;
      do {
        space();
        std::string key = string();
        expect(':');
        v.members.emplace_back(std::move(key), value(depth + 1));
      } while (take(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.kind = Json::kArray;
      if (take(']')) return v;
      do v.items.push_back(value(depth + 1));
      while (take(','));
      expect(']');
    } else if (c == '"') {
      v.kind = Json::kString;
      v.string = string();
    } else if (literal("true") || literal("false")) {
      v.kind = Json::kBool;
      v.boolean = c == 't';
    } else if (literal("null")) {
      v.kind = Json::kNull;
    } else {
      v.kind = Json::kNumber;
      v.number = number();
    }
    return v;
  }

  bool literal(const char* word) {
    const size_t n = std::strlen(word);
    if (s_.compare(i_, n, word) != 0) return false;
    i_ += n;
    return true;
  }

  double number() {
    const size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || std::strchr(".eE+-", s_[i_]))) ++i_;
    if (i_ == start) fail("unexpected character");
    const std::string text = s_.substr(start, i_ - start);
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() || !std::isfinite(v)) fail("bad number '" + text + "'");
    return v;
  }

  std::string string() {
    if (i_ >= s_.size() || s_[i_] != '"') fail("expected a string");
    ++i_;
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated escape");
      const char e = s_[i_++];
      switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (i_ + 4 > s_.size()) fail("short \\u escape");
          const unsigned long code = std::strtoul(s_.substr(i_, 4).c_str(), nullptr, 16);
          i_ += 4;
          if (code >= 0x80) fail("non-ASCII \\u escape");  // our headers and configs are ASCII
          out += static_cast<char>(code);
          break;
        }
        default: fail("unknown escape");
      }
    }
  }

  const std::string& s_;
  std::string what_;
  size_t i_ = 0;
};

int integer(const Json& v, const std::string& what) {
  if (v.kind != Json::kNumber || v.number != std::floor(v.number) || std::fabs(v.number) > 1e9) {
    throw ModelFileError(what + " must be an integer");
  }
  return static_cast<int>(v.number);
}

std::string text(const Json& v, const std::string& what) {
  if (v.kind != Json::kString) throw ModelFileError(what + " must be a string");
  return v.string;
}

// The config JSON (wavenet_rt/config.py to_json): unknown fields are an error (a newer writer), missing
// ones take the dataclass defaults, as WaveNetConfig.from_json does.
void read_config(const std::string& json, const std::string& where, ModelFile& m) {
  const Json c = JsonReader(json, where + ": the config").document();
  if (c.kind != Json::kObject) throw ModelFileError(where + ": the config is not a JSON object");
  ModelConfig& config = m.weights.config;
  config.dilations = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
  std::string excitation;
  const std::map<std::string, int*> ints{{"kernel_size", &config.kernel_size},
                                         {"residual_channels", &config.residual_channels},
                                         {"gate_channels", &config.gate_channels},
                                         {"skip_channels", &config.skip_channels},
                                         {"classes", &config.classes},
                                         {"cond_channels", &config.cond_channels},
                                         {"cond_hop", &config.cond_hop},
                                         {"global_classes", &config.global_classes},
                                         {"sample_rate", &config.sample_rate},
                                         {"voices", &m.voices}};
  for (const auto& [key, value] : c.members) {
    const std::string what = where + ": config field '" + key + "'";
    if (auto it = ints.find(key); it != ints.end()) {
      *it->second = integer(value, what);
    } else if (key == "dilations") {
      if (value.kind != Json::kArray) throw ModelFileError(what + " must be a list");
      config.dilations.clear();
      for (const Json& d : value.items) config.dilations.push_back(integer(d, what));
    } else if (key == "cond_features") {
      m.features = text(value, what);
    } else if (key == "excitation") {
      excitation = text(value, what);
    } else if (key == "dc_blocker") {
      if (value.kind != Json::kNumber) throw ModelFileError(what + " must be a number");
      config.dc_blocker = static_cast<float>(value.number);
    } else if (key == "temperature") {
      if (value.kind != Json::kNumber || !(value.number >= 0 && value.number <= kMaxTemperature)) {
        throw ModelFileError(what + " must be a number in [0, " + std::to_string(static_cast<int>(kMaxTemperature)) + "]");
      }
      m.temperature = static_cast<float>(value.number);
    } else if (key == "strike_scale") {
      if (value.kind != Json::kNumber || !valid_strike_scale(static_cast<float>(value.number))) {
        throw ModelFileError(what + " must be a number in [1, " + std::to_string(static_cast<int>(kMaxStrikeScale)) + "]");
      }
      m.strike_scale = static_cast<float>(value.number);
    } else if (key == "sustain_scale") {
      if (value.kind != Json::kNumber || !valid_sustain_scale(static_cast<float>(value.number))) {
        throw ModelFileError(what + " must be a number in [0, 1]");
      }
      m.sustain_scale = static_cast<float>(value.number);
    } else if (key == "velocity_curve_db") {
      const std::string must = " must be a list of " + std::to_string(kVelocityCurvePoints.size()) +
                               " numbers within +-" + std::to_string(static_cast<int>(kMaxVelocityTrimDb)) + " (or empty)";
      if (value.kind != Json::kArray) throw ModelFileError(what + must);
      for (const Json& d : value.items) {
        if (d.kind != Json::kNumber) throw ModelFileError(what + must);
        m.velocity_curve_db.push_back(static_cast<float>(d.number));
      }
      if (!valid_velocity_curve(m.velocity_curve_db)) throw ModelFileError(what + must);
    } else if (key == "gain") {
      if (value.kind != Json::kNumber || !valid_gain(static_cast<float>(value.number))) {
        throw ModelFileError(what + " must be a number in " + gain_range() + " in float32");
      }
      m.gain = static_cast<float>(value.number);
    } else {
      throw ModelFileError(where + ": the config has a field this version does not know: '" + key + "'");
    }
  }
  if (excitation != "" && excitation != "periods") {
    throw ModelFileError(where + ": unknown excitation '" + excitation + "'");
  }
  config.excitation = excitation == "periods";
  if (config.sample_rate < 1) throw ModelFileError(where + ": invalid model config: sample_rate must be >= 1");
  if (m.voices < 0 || m.voices > VoiceAllocator::kMaxVoices || (m.voices && !config.cond_channels)) {
    throw ModelFileError(where + ": invalid model config: voices must be in [0, 64], and 0 without conditioning");
  }
  if (!m.velocity_curve_db.empty() && !m.voices) {
    throw ModelFileError(where + ": invalid model config: a velocity curve trims voices: it needs voices > 0");
  }
  try {
    config.validate();
  } catch (const std::invalid_argument& err) {
    throw ModelFileError(where + ": " + err.what());
  }
}

uint64_t read_le64(const unsigned char* p) {
  uint64_t v = 0;
  for (int k = 7; k >= 0; --k) v = v << 8 | p[k];
  return v;
}

}  // namespace

std::unique_ptr<ModelFile> read_model_file(const std::string& path) {
  static_assert(sizeof(float) == 4, "model files hold IEEE float32");
  if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__) throw ModelFileError("model files are read on little-endian hosts");
  std::ifstream file(path, std::ios::binary);
  if (!file) throw ModelFileError("model file not found or unreadable: " + path);
  const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (bytes.size() < 8) throw ModelFileError(path + " is truncated or not a safetensors file (shorter than 8 bytes)");
  const uint64_t header_size = read_le64(bytes.data());
  if (header_size < 2 || header_size > kMaxHeader || header_size > bytes.size() - 8) {
    throw ModelFileError(path + " is truncated or not a safetensors file (header length " +
                         std::to_string(header_size) + " does not fit the file)");
  }
  const std::string header_text(reinterpret_cast<const char*>(bytes.data()) + 8, header_size);
  const Json header = JsonReader(header_text, path + ": the safetensors header").document();
  if (header.kind != Json::kObject) throw ModelFileError(path + ": the safetensors header is not a JSON object");

  const Json* meta = header.find("__metadata__");
  const Json* format = meta ? meta->find("format") : nullptr;
  const Json* config = meta ? meta->find("config") : nullptr;
  if (!format || format->kind != Json::kString || format->string != "wavenet_rt" || !config) {
    throw ModelFileError(path + " is a safetensors file but not a wavenet_rt model (no wavenet_rt metadata)");
  }
  const Json* version = meta->find("format_version");
  char* end = nullptr;
  const long v = version && version->kind == Json::kString ? std::strtol(version->string.c_str(), &end, 10) : -1;
  if (!version || version->kind != Json::kString || version->string.empty() || *end) {
    throw ModelFileError(path + " has an unreadable format version");
  }
  if (v > kFormatVersion) {
    throw ModelFileError(path + " has format version " + std::to_string(v) + ", newer than this wavenet_rt reads (" +
                         std::to_string(kFormatVersion) + "); upgrade wavenet_rt");
  }
  auto model = std::make_unique<ModelFile>();
  read_config(text(*config, path + ": metadata 'config'"), path, *model);

  const std::vector<TensorSlot> slots = tensor_list(model->weights);
  std::set<std::string> wanted;
  size_t total = 0;
  for (const TensorSlot& t : slots) {
    wanted.insert(t.name);
    size_t n = 1;
    for (long d : t.shape) n *= static_cast<size_t>(d);
    total += n;
  }
  for (const auto& member : header.members) {
    if (member.first != "__metadata__" && !wanted.count(member.first)) {
      throw ModelFileError(path + " does not match its config: unexpected tensor " + member.first);
    }
  }
  const size_t data_start = 8 + header_size, data_size = bytes.size() - data_start;
  model->data.resize(total);
  size_t at = 0;
  for (const TensorSlot& t : slots) {
    const std::string where = path + ": tensor " + t.name;
    const Json* info = header.find(t.name);
    if (!info) throw ModelFileError(path + " does not match its config: missing tensor " + t.name);
    const Json* dtype = info->find("dtype");
    const Json* shape = info->find("shape");
    const Json* offsets = info->find("data_offsets");
    if (!dtype || text(*dtype, where + " dtype") != "F32") throw ModelFileError(where + " is not float32 (F32)");
    if (!shape || shape->kind != Json::kArray || shape->items.size() != t.shape.size()) {
      throw ModelFileError(where + " has the wrong number of dimensions for its config");
    }
    size_t n = 1;
    for (size_t k = 0; k < t.shape.size(); ++k) {
      if (integer(shape->items[k], where + " shape") != t.shape[k]) {
        throw ModelFileError(where + " has a shape its config does not give it");
      }
      n *= static_cast<size_t>(t.shape[k]);
    }
    if (!offsets || offsets->kind != Json::kArray || offsets->items.size() != 2) {
      throw ModelFileError(where + " has no data_offsets pair");
    }
    const double begin = offsets->items[0].number, finish = offsets->items[1].number;
    integer(offsets->items[0], where + " data_offsets");
    integer(offsets->items[1], where + " data_offsets");
    if (begin < 0 || finish > static_cast<double>(data_size) || finish - begin != static_cast<double>(n * 4)) {
      throw ModelFileError(path + " is truncated or inconsistent: " + t.name + "'s bytes lie outside the file");
    }
    float* out = model->data.data() + at;
    std::memcpy(out, bytes.data() + data_start + static_cast<size_t>(begin), n * 4);
    for (size_t k = 0; k < n; ++k) {
      if (!std::isfinite(out[k])) throw ModelFileError(where + " holds NaN or infinite weights");
    }
    *t.field = out;
    at += n;
  }
  return model;
}

}  // namespace wavenet_rt
