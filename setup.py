"""Builds the native sampling engine and the profile.proto decoder; everything else is declared
in pyproject.toml."""
import importlib.util
import os
import sys

from setuptools import Extension, setup

_ENGINE_FILES = ["module", "ring", "walk", "timers", "sampler", "heap_table", "heap_hooks"]


def _engine_refusal() -> str:
    """collect/versions.py decides which interpreters get the engine (loaded by path: the
    package's own imports are not installed yet)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyprofnb", "collect", "versions.py")
    spec = importlib.util.spec_from_file_location("_pyprofnb_versions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.engine_refusal()


# The profile.proto decoder: portable C, required (the codec reads every profile with it).
ext_modules = [
    Extension(
        "pyprofnb.codec._decode",
        sources=["pyprofnb/codec/_decode.c"],
        extra_compile_args=["-O2", "-Wall", "-std=gnu11"],
    )
]
_refusal = _engine_refusal()
if _refusal:
    # No extension: pyprofnb.collect reports the same reason and uses the fallback sampler.
    print(f"pyprofnb: not building the native engine: {_refusal}", file=sys.stderr)
else:
    ext_modules.append(
        Extension(
            "pyprofnb.collect._engine",
            # One file per concern (engine/engine.h lists them); walk.c alone reads CPython's
            # internals, through the version header frames_cpython.h.
            sources=[f"pyprofnb/collect/engine/{name}.c" for name in _ENGINE_FILES],
            depends=["pyprofnb/collect/engine/engine.h", "pyprofnb/collect/engine/frames_cpython.h"],
            extra_compile_args=["-O2", "-Wall", "-std=gnu11", "-fvisibility=hidden"],
            libraries=["rt", "m"],
            optional=True,
        )
    )

setup(ext_modules=ext_modules)
