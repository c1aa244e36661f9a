"""The version, in one place: pyproject.toml reads it at build time, ``--version`` and reports at run time."""

__version__ = "0.1.0"
