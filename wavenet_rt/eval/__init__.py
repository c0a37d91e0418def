# How well a model follows its MIDI: the evaluation command (evaluate) and its audio metrics (metrics).
