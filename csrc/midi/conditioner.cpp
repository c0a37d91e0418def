// Conditioner (conditioner.h): MIDI parsing and the key/pedal/controller state machine. All 16 channels
// play one 88-key instrument; each channel keeps its own keys, pedal and controllers, and the roll shows
// the loudest channel holding each key.
#include "midi/conditioner.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace wavenet_rt {

int feature_channels(const std::string& features) {
  if (features == "roll88_onset88") return 2 * kKeys;
  if (features == "roll88_onset88_bend") return 2 * kKeys + 1;
  if (features == "roll88_onset88_age88") return 3 * kKeys;
  if (features.empty()) return 0;
  return -1;
}

int onset_frames(int hop, int sample_rate) {
  if (hop < 1) throw std::invalid_argument("hop must be >= 1");
  if (sample_rate <= 0) return kLegacyOnsetFrames;
  return std::max(1, static_cast<int>(std::lround(kOnsetSeconds * sample_rate / hop)));
}

Conditioner::Conditioner(const std::string& features, int hop, int capacity, bool fixed_capacity, int voices,
                         int programs, int sample_rate)
    : channels_(feature_channels(features)), hop_(hop), programs_(programs),
      onset_frames_(wavenet_rt::onset_frames(hop, sample_rate)),
      bend_channel_(features == "roll88_onset88_bend"), age_channels_(features == "roll88_onset88_age88"),
      fixed_capacity_(fixed_capacity),
      voices_(voices, release_tail_samples(sample_rate)) {
  if (channels_ < 0) throw std::invalid_argument("unknown conditioning feature set '" + features + "'");
  if (programs < 0 || programs > 128) throw std::invalid_argument("programs must be in [0, 128]");
  if (voices > 0 && channels_ == 0) throw std::invalid_argument("voices need frames: no feature set was given");
  if (age_channels_ && sample_rate <= 0) throw std::invalid_argument("the age channels need the sample rate");
  pending_.reserve(std::max(1, capacity));
  if (age_channels_) ages_.assign(std::max(1, voices), NoteAge(hop, sample_rate));
}

float Conditioner::level(int key) const {
  float level = 0.0f;
  for (int c = 0; c < kMidiChannels; ++c) level = std::max({level, held_[c][key], sustained_[c][key]});
  return level;
}

int Conditioner::sounding_keys() const {
  int count = 0;
  for (int key = 0; key < kKeys; ++key) count += level(key) > 0;
  return count;
}

void Conditioner::push(int64_t sample, const uint8_t* bytes, int length) {
  Message m{sample, arrivals_++, {0, 0, 0}, std::min(length, 3)};
  for (int i = 0; i < m.length; ++i) m.bytes[i] = bytes[i];
  if (length > 3) m.length = -1;  // sysex and other long messages: counted as ignored when applied
  if (pending_head_ == pending_.size()) {
    pending_.clear();
    pending_head_ = 0;
  } else if (pending_.size() == pending_.capacity() && pending_head_ > 0) {
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(pending_head_));  // no allocation
    pending_head_ = 0;
  }
  if (fixed_capacity_ && pending_.size() == pending_.capacity()) {
    ++dropped_;
    return;
  }
  auto at = pending_.end();  // messages mostly arrive in time order: search from the back
  while (at != pending_.begin() + static_cast<long>(pending_head_) && (at - 1)->sample > sample) --at;
  pending_.insert(at, m);
}

void Conditioner::frames(int count, float* out, int stride) {
  const int64_t end = next_frame_ + count;
  for (int64_t frame = next_frame_; frame < end;) {
    while (pending_head_ < pending_.size() && pending_[pending_head_].sample <= frame * hop_) {
      apply(pending_[pending_head_++]);
    }
    int64_t change = end;  // the first frame that starts at or after the next queued message
    if (pending_head_ < pending_.size()) {
      const int64_t s = pending_[pending_head_].sample;
      const int64_t at = s <= 0 ? 0 : (s + hop_ - 1) / hop_;
      change = std::min(end, std::max(frame + 1, at));
    }
    const int first = static_cast<int>(frame - next_frame_), columns = static_cast<int>(change - frame);
    if (voices_.voices() > 0) {
      fill_voices(out, stride, first, columns);
    } else if (channels_ > 0) {
      fill(out, stride, first, columns);
    }
    if (age_channels_) fill_ages(out, stride, first, columns);
    frame = change;
  }
  next_frame_ = end;
}

void Conditioner::fill(float* out, int stride, int first, int count) {
  for (int key = 0; key < kKeys; ++key) {
    const float held = level(key);
    float* roll = out + static_cast<long>(key) * stride + first;
    float* onset = out + static_cast<long>(kKeys + key) * stride + first;
    const int lit = std::min(count, onset_left_[key]);
    for (int i = 0; i < count; ++i) {
      roll[i] = held;
      onset[i] = i < lit ? 1.0f : 0.0f;
    }
    onset_left_[key] = std::max(0, onset_left_[key] - count);
  }
  if (bend_channel_) {
    float* bend = out + static_cast<long>(2 * kKeys) * stride + first;
    for (int i = 0; i < count; ++i) bend[i] = bend_;
  }
}

// Each voice's stream shows its own key (none once the key stops sounding) and its own onset, which stays
// lit for onset_frames_ even past a short note's release, as a key's onset does in fill().
void Conditioner::fill_voices(float* out, int stride, int first, int count) {
  for (int v = 0; v < voices_.voices(); ++v) {
    float* stream = out + static_cast<long>(v) * channels_ * stride + first;
    auto set = [&](int channel, int columns, float value) {
      std::fill(stream + static_cast<long>(channel) * stride, stream + static_cast<long>(channel) * stride + columns,
                value);
    };
    for (int c = 0; c < channels_; ++c) set(c, count, 0.0f);
    if (voices_.key(v) >= 0) set(voices_.key(v), count, level(voices_.key(v)));
    if (voices_.last_key(v) >= 0) set(kKeys + voices_.last_key(v), std::min(count, voice_onset_left_[v]), 1.0f);
    voice_onset_left_[v] = std::max(0, voice_onset_left_[v] - count);
    if (bend_channel_) set(2 * kKeys, count, bend_);
  }
}

// The age channels read the roll and onset channels just filled, stream by stream.
void Conditioner::fill_ages(float* out, int stride, int first, int count) {
  for (size_t s = 0; s < ages_.size(); ++s) {
    float* stream = out + static_cast<long>(s) * channels_ * stride + first;
    ages_[s].fill(stream, stream + static_cast<long>(kKeys) * stride, stream + 2L * kKeys * stride, stride, count);
  }
}

void Conditioner::apply(const Message& m) {
  now_ = m.sample;
  apply_message(m);
  // a voice is free from the message that silenced its key: when it fell silent ranks free voices
  if (voices_.voices() > 0) voices_.release_silent([this](int key) { return level(key) > 0; }, now_);
}

void Conditioner::apply_message(const Message& m) {
  if (m.length < 1 || m.bytes[0] < 0x80 || m.bytes[0] >= 0xF0) {  // garbage, sysex, clock, other system
    ++ignored_;
    return;
  }
  const int kind = m.bytes[0] & 0xF0, channel = m.bytes[0] & 0x0F;
  const int needed = (kind == 0xC0 || kind == 0xD0) ? 2 : 3;
  if (m.length < needed || m.bytes[1] > 0x7F || (needed == 3 && m.bytes[2] > 0x7F)) {
    ++ignored_;
    return;
  }
  const int d1 = m.bytes[1], d2 = needed == 3 ? m.bytes[2] : 0;
  switch (kind) {
    case 0x90:
      if (d2 > 0) {
        note_on(channel, d1, d2);
      } else {
        note_off(channel, d1);  // note-on with velocity 0 is a note-off
      }
      break;
    case 0x80: note_off(channel, d1); break;
    case 0xB0: control(channel, d1, d2); break;
    case 0xE0: bend_ = static_cast<float>(((d2 << 7) | d1) - 8192) / 8192.0f; break;
    case 0xC0:  // program change: selects the model's global class (the performer reads program())
      if (d1 < programs_) {
        program_ = d1;
      } else {
        ++ignored_;
      }
      break;
    default: ++ignored_;  // aftertouch
  }
}

void Conditioner::note_on(int channel, int note, int velocity) {
  const int key = note - kLowestKey;
  if (key < 0 || key >= kKeys) {
    ++ignored_;
    return;
  }
  held_[channel][key] = static_cast<float>(velocity / 127.0);
  sustained_[channel][key] = 0.0f;
  onset_left_[key] = onset_frames_;
  if (voices_.voices() > 0) voice_onset_left_[voices_.strike(key, now_)] = onset_frames_;
}

void Conditioner::note_off(int channel, int note) {
  const int key = note - kLowestKey;
  if (key < 0 || key >= kKeys) {
    ++ignored_;
    return;
  }
  if (pedal_[channel] && held_[channel][key] > 0) sustained_[channel][key] = held_[channel][key];
  held_[channel][key] = 0.0f;
}

void Conditioner::sustain(int channel, bool down) {
  pedal_[channel] = down;
  if (!down) std::fill(std::begin(sustained_[channel]), std::end(sustained_[channel]), 0.0f);
}

void Conditioner::control(int channel, int number, int value) {
  switch (number) {
    case 1: mod_wheel_ = value; break;  // the mod wheel: the performer raises the temperature with it
    case 64: sustain(channel, value >= 64); break;
    case 123:  // all notes off: keys released; the pedal still holds them if it is down
      for (int key = 0; key < kKeys; ++key) {
        if (pedal_[channel]) sustained_[channel][key] = std::max(sustained_[channel][key], held_[channel][key]);
        held_[channel][key] = 0.0f;
      }
      break;
    case 120:  // all sound off: silence now, pedal or not
      std::fill(std::begin(held_[channel]), std::end(held_[channel]), 0.0f);
      std::fill(std::begin(sustained_[channel]), std::end(sustained_[channel]), 0.0f);
      for (int key = 0; key < kKeys; ++key) {
        if (level(key) == 0) onset_left_[key] = 0;
      }
      for (int v = 0; v < voices_.voices(); ++v) {
        if (voices_.key(v) < 0 || level(voices_.key(v)) == 0) voice_onset_left_[v] = 0;
      }
      break;
    case 121:  // reset all controllers: pedal up, bend centred
      sustain(channel, false);
      bend_ = 0.0f;
      break;
    default: ++ignored_;
  }
}

}  // namespace wavenet_rt
