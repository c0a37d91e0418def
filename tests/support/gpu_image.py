# The GPU machine's image (issue 21): the packages it has, and a check that what the GPU
# suite imports (benchmarks/gpu_suite.sh) loads with nothing else. `--requirements` prints the pip names (the
# CI rehearsal's venv, .ci/gpu_rehearsal); `--check` imports the suite's modules with every other package
# made unimportable (tests/test_gpu_image.py runs it).
import importlib
import importlib.abc
import sys
from pathlib import Path

PACKAGES = ["numpy", "safetensors", "torch", "pytest", "pytest-timeout", "pybind11", "cmake", "ninja",
            "scikit-build-core"]
# Import names those packages and their own requirements provide, and this project's modules.
IMPORTABLE = {"numpy", "safetensors", "torch", "torchgen", "functorch", "pytest", "_pytest", "py", "pluggy",
              "iniconfig", "packaging", "pygments", "pytest_timeout", "pybind11", "cmake", "ninja",
              "scikit_build_core", "filelock", "typing_extensions", "sympy", "mpmath", "networkx", "jinja2",
              "markupsafe", "fsspec", "setuptools", "pkg_resources", "_distutils_hack",
              "wavenet_rt", "support", "conftest", "cuda_smoke", "cuda_profile", "gpu_bench"}
SUITE_MODULES = ["wavenet_rt", "wavenet_rt.model", "conftest", "test_cuda", "test_excitation", "cuda_smoke",
                 "cuda_profile", "gpu_bench"]
ROOT = Path(__file__).resolve().parents[2]


class OnlyTheImage(importlib.abc.MetaPathFinder):
    """Refuses every top-level module outside the standard library and IMPORTABLE, and records it."""

    def __init__(self) -> None:
        self.refused: set[str] = set()

    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in IMPORTABLE or top.startswith("test_"):
            return None
        self.refused.add(top)
        raise ModuleNotFoundError(f"No module named {name!r} (not in the GPU image)", name=name)


def check() -> None:
    """Imports SUITE_MODULES from this checkout with only the image's packages; exits non-zero on failure."""
    sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]
    finder = OnlyTheImage()
    sys.meta_path.insert(0, finder)
    try:
        import mido  # noqa: F401  (installed on CI machines: the finder must refuse it)
    except ModuleNotFoundError:
        pass
    else:
        sys.exit("the finder let mido through")
    for name in SUITE_MODULES:
        importlib.import_module(name)
    assert Path(sys.modules["wavenet_rt"].__file__).is_relative_to(ROOT), sys.modules["wavenet_rt"].__file__
    print("imported", ", ".join(SUITE_MODULES), "; refused (optional imports):", ", ".join(sorted(finder.refused)))


if __name__ == "__main__":
    if sys.argv[1:] == ["--requirements"]:
        print("\n".join(PACKAGES))
    elif sys.argv[1:] == ["--check"]:
        check()
    else:
        sys.exit("usage: gpu_image.py --requirements | --check")
