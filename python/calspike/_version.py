"""The version, in one place: pyproject.toml reads it at build time, the C++ core is given it."""

__version__ = "0.1.0"
