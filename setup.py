# Builds wavenet_rt._engine by running CMake (see CMakeLists.txt), in the style of pybind11's
# cmake_example. WAVENET_RT_CUDA=AUTO|ON|OFF in the environment picks whether CUDA sources are built.
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class CMakeExtension(Extension):
    def __init__(self, name: str, source_dir: str = ".") -> None:
        super().__init__(name, sources=[])
        self.source_dir = str(Path(source_dir).resolve())


class CMakeBuild(build_ext):
    def build_extension(self, ext: CMakeExtension) -> None:
        import pybind11  # a build requirement (pyproject.toml), so only importable here

        out_dir = Path(self.get_ext_fullpath(ext.name)).parent.resolve()
        build_dir = Path(self.build_temp) / ext.name
        build_dir.mkdir(parents=True, exist_ok=True)
        config = "Debug" if self.debug else "Release"
        cmake_args = [
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}{os.sep}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            f"-DCMAKE_BUILD_TYPE={config}",
            f"-DWAVENET_RT_CUDA={os.environ.get('WAVENET_RT_CUDA', 'AUTO')}",
        ]
        if "CUDAARCHS" in os.environ:
            cmake_args.append(f"-DCMAKE_CUDA_ARCHITECTURES={os.environ['CUDAARCHS']}")
        if "CMAKE_GENERATOR" not in os.environ:
            try:
                import ninja  # noqa: F401  (the ninja wheel puts the binary on PATH)

                cmake_args.append("-GNinja")
            except ImportError:
                pass
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        subprocess.run(["cmake", ext.source_dir, *cmake_args], cwd=build_dir, check=True)
        subprocess.run(["cmake", "--build", ".", "--parallel", jobs], cwd=build_dir, check=True)

    def copy_extensions_to_source(self) -> None:
        super().copy_extensions_to_source()
        # The LV2 bundle CMake writes beside the extension (with lv2-dev installed) goes in place with it.
        bundle = Path(self.build_lib) / "wavenet_rt" / "wavenet_rt.lv2"
        if bundle.is_dir():
            shutil.copytree(bundle, Path("wavenet_rt") / "wavenet_rt.lv2", dirs_exist_ok=True)


setup(
    ext_modules=[CMakeExtension("wavenet_rt._engine")],
    cmdclass={"build_ext": CMakeBuild},
)
