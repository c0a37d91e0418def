# wavenet_rt: real-time WaveNet music synthesis. Public API re-exports only; the torch model loads lazily
# (WaveNet is a stand-in until first used), so `import wavenet_rt` and the live path work without torch.
from .config import WaveNetConfig
from .engine import Engine, EngineError
from .lazy import LazyClass
from .weights import ModelFileError, default_model_path, load_model, read_model_file, save_model

WaveNet = LazyClass("wavenet_rt.model", "WaveNet")

__all__ = ["WaveNetConfig", "WaveNet", "Engine", "EngineError", "save_model", "load_model", "read_model_file",
           "ModelFileError", "default_model_path"]
