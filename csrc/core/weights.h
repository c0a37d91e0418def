// ModelConfig and the host weights of a WaveNet in PyTorch layout, as read from a model file
// (wavenet_rt/weights.py names them). Non-owning views: an engine repacks them in its constructor and
// keeps nothing of these. Field names follow wavenet_rt/config.py.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace wavenet_rt {

struct ModelConfig {
  std::vector<int> dilations;
  int kernel_size = 2;
  int residual_channels = 32;
  int gate_channels = 64;
  int skip_channels = 128;
  int classes = 256;
  int cond_channels = 0;
  int cond_hop = 64;
  int global_classes = 0;
  int sample_rate = 16000;
  bool excitation = false;  // "periods" (excitation.h): needs the 88-key roll as the first cond channels
  float dc_blocker = 0.0f;  // the pole of the DC blocker on what is played and heard (feedback.h); 0: none

  int layers() const { return static_cast<int>(dilations.size()); }
  int half_gate() const { return gate_channels / 2; }
  int receptive_field() const {
    int sum = 0;
    for (int d : dilations) sum += d;
    return (kernel_size - 1) * sum + 1;
  }

  // Throws std::invalid_argument naming the first field that is out of range.
  void validate() const {
    auto fail = [](const std::string& what) { throw std::invalid_argument("invalid model config: " + what); };
    if (dilations.empty()) fail("no layers");
    for (int d : dilations) {
      if (d < 1) fail("dilations must be >= 1");
    }
    if (kernel_size < 1 || residual_channels < 1 || skip_channels < 1 || cond_hop < 1) fail("sizes must be >= 1");
    if (gate_channels < 2 || gate_channels % 2) fail("gate_channels must be even");
    if (classes < 2 || classes > 65536) fail("classes must be in [2, 65536]");
    if (cond_channels < 0 || global_classes < 0) fail("cond_channels and global_classes must be >= 0");
    if (excitation && cond_channels < 88) fail("the period taps need the 88-key roll in cond");
    if (!(dc_blocker >= 0.0f && dc_blocker < 1.0f)) fail("dc_blocker must be in [0, 1) in float32");
  }
};

// One gated layer. conv: (G, R, k); cond: (G, C) or null; glob: (global_classes, G) or null;
// skip: (S, G/2); res: (R, G/2), null in the last layer.
struct LayerWeights {
  const float* conv_weight = nullptr;
  const float* conv_bias = nullptr;
  const float* cond_weight = nullptr;
  const float* glob_weight = nullptr;
  const float* skip_weight = nullptr;
  const float* skip_bias = nullptr;
  const float* res_weight = nullptr;
  const float* res_bias = nullptr;
};

// embed: (classes, R); excite: (R) the period taps' projection, or null; head1: (S, S); head2: (classes, S).
struct HostWeights {
  ModelConfig config;
  const float* embed = nullptr;
  const float* excite = nullptr;
  std::vector<LayerWeights> layers;
  const float* head1_weight = nullptr;
  const float* head1_bias = nullptr;
  const float* head2_weight = nullptr;
  const float* head2_bias = nullptr;
};

}  // namespace wavenet_rt
