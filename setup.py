"""Builds the native sampling engine and the profile.proto decoder; everything else is declared
in pyproject.toml."""
import sys

from setuptools import Extension, setup

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
            sources=["pyprofnb/collect/_engine.c"],
            depends=["pyprofnb/collect/frames_cpython.h"],
            extra_compile_args=["-O2", "-Wall", "-std=gnu11"],
            libraries=["rt", "m"],
            optional=True,
        )
    )

setup(ext_modules=ext_modules)
