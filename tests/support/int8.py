# The CPU engine's int8 weight rule applied to a PyTorch model, as an independent reference for its int8
# mode: every matrix the engine stores in int8 (dilated taps, residual, skip, the first head; not the logits'
# head2) rounded per output row to 127 levels of max |w| / 127 (csrc/cpu/weight_matrix.cpp), everything else
# left in float.
import copy

import numpy as np
import torch

INT8_WEIGHTS = ("conv.weight", "res.weight", "skip.weight", "head1.weight")


def int8_rounded(model):
    """A copy of `model` whose int8-stored weights hold their rounded values (float32 arithmetic, as the
    engine's packing does: a conv weight (out, in, k) gets one scale per output and tap)."""
    rounded = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in rounded.named_parameters():
            if not name.endswith(INT8_WEIGHTS):
                continue
            w = p.detach().numpy().astype(np.float32)
            scale = np.abs(w).max(axis=1, keepdims=True) / np.float32(127)
            safe = np.where(scale > 0, scale, np.float32(1))
            q = np.where(scale > 0, np.clip(np.rint(w / safe), -127, 127), 0).astype(np.float32)
            p.copy_(torch.from_numpy(q * scale))
    return rounded
