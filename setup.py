"""Builds the native sampling engine and the profile.proto decoder; everything else is declared
in pyproject.toml."""
import sys

from setuptools import Extension, setup

_ENGINE_FILES = ["module", "ring", "walk", "timers", "sampler", "heap_table", "heap_hooks"]

# The profile.proto decoder: portable C, required (the codec reads every profile with it).
ext_modules = [
    Extension(
        "pyprofnb.codec._decode",
        sources=["pyprofnb/codec/_decode.c"],
        extra_compile_args=["-O2", "-Wall", "-std=gnu11"],
    )
]
if sys.platform.startswith("linux"):
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
