// The tensors of a model file, defined once: each name, its shape in PyTorch layout and the HostWeights
// field it fills. The bindings read a model's tensors through it, and Python gets the same list from it
// (wavenet_rt/weights.py expected_shapes) to check files.
#pragma once

#include <string>
#include <vector>

#include "core/weights.h"

namespace wavenet_rt {

struct TensorSlot {
  std::string name;
  std::vector<long> shape;
  const float** field;  // where HostWeights keeps this tensor's data
};

// Every tensor a model of w.config holds, in file order. Sizes w.layers to the config's layers; the
// fields stay valid while w lives and w.layers is not resized.
inline std::vector<TensorSlot> tensor_list(HostWeights& w) {
  const ModelConfig& c = w.config;
  const long r = c.residual_channels, g = c.gate_channels, s = c.skip_channels, h = c.half_gate();
  w.layers.assign(c.layers(), LayerWeights{});
  std::vector<TensorSlot> list{{"embed.weight", {c.classes, r}, &w.embed}};
  if (c.excitation) list.push_back({"excite.weight", {r, 1, 1}, &w.excite});
  for (int l = 0; l < c.layers(); ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    LayerWeights& layer = w.layers[l];
    list.push_back({p + "conv.weight", {g, r, c.kernel_size}, &layer.conv_weight});
    list.push_back({p + "conv.bias", {g}, &layer.conv_bias});
    if (c.cond_channels) list.push_back({p + "cond.weight", {g, c.cond_channels, 1}, &layer.cond_weight});
    if (c.global_classes) list.push_back({p + "glob.weight", {c.global_classes, g}, &layer.glob_weight});
    list.push_back({p + "skip.weight", {s, h, 1}, &layer.skip_weight});
    list.push_back({p + "skip.bias", {s}, &layer.skip_bias});
    if (l + 1 < c.layers()) {  // the last layer's residual output is never read
      list.push_back({p + "res.weight", {r, h, 1}, &layer.res_weight});
      list.push_back({p + "res.bias", {r}, &layer.res_bias});
    }
  }
  list.push_back({"head1.weight", {s, s, 1}, &w.head1_weight});
  list.push_back({"head1.bias", {s}, &w.head1_bias});
  list.push_back({"head2.weight", {c.classes, s, 1}, &w.head2_weight});
  list.push_back({"head2.bias", {c.classes}, &w.head2_bias});
  return list;
}

}  // namespace wavenet_rt
