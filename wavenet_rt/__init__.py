# wavenet_rt: real-time WaveNet music synthesis. Public API re-exports only; the torch model loads lazily,
# so `import wavenet_rt` and the live path work on machines without torch.
from .config import WaveNetConfig
from .engine import Engine, EngineError
from .weights import ModelFileError, load_model, read_model_file, save_model

__all__ = ["WaveNetConfig", "WaveNet", "Engine", "EngineError", "save_model", "load_model", "read_model_file",
           "ModelFileError"]


def __getattr__(name: str):
    if name == "WaveNet":
        from .model import WaveNet

        return WaveNet
    raise AttributeError(f"module 'wavenet_rt' has no attribute {name!r}")
