# The offline dataset builder: scores or MIDI -> fluidsynth audio -> mu-law codes + aligned conditioning
# frames, split by piece, written as shards with a manifest. `python -m wavenet_rt.dataset build OUT`.
