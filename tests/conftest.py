# Shared test fixtures: small model configurations and a skip marker for tests that need a CUDA device.
import pytest

from wavenet_rt import _engine


def pytest_collection_modifyitems(config, items):
    if _engine.cuda_device_count() > 0:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
