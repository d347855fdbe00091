"""The library's error type for bad input: one line that names the file or argument and the key."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad input; the message is one line naming the file and the key path.

    `argument` names the API argument or configuration key at fault (e.g. "workers", "overrides");
    the message then reads "argument: detail" and a front end may spell the argument its own way
    (the CLI says "--workers", "--set").
    """

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        self.argument = argument
        self.detail = message
        super().__init__(f"{argument}: {message}" if argument else message)
