// Reads a model file (wavenet_rt/weights.py writes them: safetensors with float32 tensors and the config JSON
// in the metadata) in C++ alone, for hosts without Python (the LV2 plugin). Strict like the Python reader:
// every way a file can be wrong is a ModelFileError naming the file and the first problem found.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/weights.h"

namespace wavenet_rt {

class ModelFileError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// A model file's contents; `weights` points into `data`, so a ModelFile is neither copied nor moved.
struct ModelFile {
  HostWeights weights;
  std::string features;  // the config's cond_features (the conditioner's feature set)
  int voices = 0;        // the config's voices: how players condition it by default
  float temperature = 1.0f;  // the config's temperature: what players sample at by default
  float gain = 1.0f;         // the config's gain: the level trim players mix the voices' streams with
  float strike_scale = 1.0f;   // the config's: a voice's temperature over its note's first 10 ms, as a multiple
  float sustain_scale = 1.0f;  // the config's: a voice's temperature after its attack, as a multiple
  std::vector<float> velocity_curve_db;  // the config's: each voice's trim by velocity (empty: none)
  std::vector<float> data;

  ModelFile() = default;
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;
};

std::unique_ptr<ModelFile> read_model_file(const std::string& path);

}  // namespace wavenet_rt
