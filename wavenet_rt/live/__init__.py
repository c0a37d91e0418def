# The live instrument: the player (play), the audio device and the C++ synth behind it (stream), MIDI
# inputs and file playback (midi), and a JACK probe that measures it from outside (probe).
