# BatchStream against drawing in the training thread: the same batches in the same order, the RNG state of
# the batches used (not of those drawn ahead) for checkpoints, and errors of the drawing thread reported.
import numpy as np
import pytest

from wavenet_rt.batch_stream import BatchStream
from wavenet_rt.data import Batch


def draw(rng: np.random.Generator) -> Batch:
    codes = rng.integers(0, 256, size=(2, 9))
    return Batch(codes[:, :-1], codes[:, -3:], None, None)


def test_batches_and_state_match_drawing_in_line():
    reference = np.random.default_rng(5)
    stream = BatchStream(draw, np.random.default_rng(5), ahead=3)
    try:
        for _ in range(6):
            expected = draw(reference)
            got = stream.next()
            np.testing.assert_array_equal(got.inputs, expected.inputs)
            # the stream has drawn further ahead; its state is that of the batches used so far
            assert stream.rng_state == reference.bit_generator.state
    finally:
        stream.close()
    resumed = np.random.default_rng(0)
    resumed.bit_generator.state = stream.rng_state
    np.testing.assert_array_equal(draw(resumed).inputs, draw(reference).inputs)


def test_an_error_while_drawing_reaches_the_training_thread():
    def broken(rng):
        raise ValueError("no windows left")

    stream = BatchStream(broken, np.random.default_rng(0))
    with pytest.raises(ValueError, match="no windows left"):
        stream.next()
    stream.close()
