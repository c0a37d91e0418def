# Shared test fixtures: a skip marker for tests that need a CUDA device, the impulse model (silence, or full
# scale while any key is down), and a JACK server with the dummy driver: the one .ci/run started
# (JACK_DEFAULT_SERVER), else one started here. Also keeps the suite's NumPy arrays off huge pages (below).
import os

# By the live tests the suite's own process holds gigabytes of NumPy arrays, which NumPy asks the kernel to
# back with huge pages; khugepaged, collapsing them, held a CPU for up to 36 ms at a time on a kernel without
# preemption (this VM's) and delayed the live players' real-time threads, which then ran short (worst wake-up
# 7.9 ms and underruns in the full suite, 0.35 ms and none without; docs/experiments/2026-12-05-khugepaged.md).
# Set before NumPy is first imported, here and in every process the tests start.
os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"

import shutil  # noqa: E402

import pytest  # noqa: E402

from wavenet_rt import _engine  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if _engine.cuda_device_count() > 0:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def impulse_model_file(tmp_path_factory):
    from wavenet_rt import save_model
    from wavenet_rt.live.probe import impulse_model

    path = tmp_path_factory.mktemp("models") / "impulse.safetensors"
    save_model(impulse_model(), path)
    return path


@pytest.fixture(scope="session")
def jack_server():
    """Name of a running JACK server (dummy driver, 48 kHz)."""
    name = os.environ.get("JACK_DEFAULT_SERVER")
    if name:
        yield name
        return
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed: apt-get install jackd2 (or run the tests through .ci/run)")
    from wavenet_rt.live.probe import JackServer

    server = JackServer("wavenet_rt_tests", 48000, 512)
    yield server.name
    server.stop()
