# A stand-in for a class whose module imports torch: `from wavenet_rt import WaveNet` costs nothing, and the
# first call, isinstance/issubclass check, subclass statement or attribute read imports the real class
# (wavenet_rt/__init__.py exports WaveNet through it, so the engine and the live synth never need torch).
from __future__ import annotations

import importlib


class LazyClass:
    def __init__(self, module: str, name: str) -> None:
        self._where = (module, name)

    def resolve(self) -> type:
        module, name = self._where
        return getattr(importlib.import_module(module), name)

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, attr: str):  # only for what the stand-in lacks: the class's own attributes
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self.resolve(), attr)

    def __instancecheck__(self, obj) -> bool:
        return isinstance(obj, self.resolve())

    def __subclasscheck__(self, cls) -> bool:
        return issubclass(cls, self.resolve())

    def __mro_entries__(self, bases: tuple) -> tuple[type]:  # `class Mine(WaveNet):` subclasses the real one
        return (self.resolve(),)

    def __repr__(self) -> str:
        return "<lazy class {}.{}>".format(*self._where)
