# How well a model follows its MIDI: the evaluation command (evaluate), its audio metrics (metrics, listening)
# and evaluations compared seed by seed (compare).
