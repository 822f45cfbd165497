"""Build hook: setuptools only accepts cffi_modules here, not in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["host/phyff/protocol/_build_native.py:ffibuilder"])
