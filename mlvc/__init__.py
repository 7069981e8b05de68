"""mlvc: version data, models, code and configs beside git."""

__version__ = "0.1.0"
