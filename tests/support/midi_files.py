# MIDI files the tests play: notes given in seconds, written at 120 bpm with 1000 ticks per beat (2000 ticks,
# i.e. 0.5 ms, per second), so every time a test states is exact in the file.
import mido

TICKS_PER_SECOND = 2000


def write_notes(path, notes, velocity=90):
    """notes: (key, on_s, off_s) or (key, on_s, off_s, velocity), overlapping freely; at equal times a
    note-off comes before a note-on, so a re-struck key sounds again. Returns path."""
    events = []
    for key, on, off, *vel in notes:
        events.append((round(on * TICKS_PER_SECOND), 1, key, vel[0] if vel else velocity))
        events.append((round(off * TICKS_PER_SECOND), 0, key, 0))
    midi = mido.MidiFile(ticks_per_beat=1000)  # at mido's default 120 bpm
    track = mido.MidiTrack()
    midi.tracks.append(track)
    now = 0
    for tick, is_on, key, vel in sorted(events):
        track.append(mido.Message("note_on" if is_on else "note_off", note=key, velocity=vel, time=tick - now))
        now = tick
    midi.save(path)
    return path
