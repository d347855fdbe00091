"""The library's error type for bad input: one line that names the file or argument and the key."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad input; the message is one line naming the file and the key path."""
