"""robin-ecoc: an example robin-bench plugin (see plugin.py)."""

__version__ = "0.1.0"
