"""Builds the native sampling engine; everything else is declared in pyproject.toml."""
import sys

from setuptools import Extension, setup

ext_modules = []
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
