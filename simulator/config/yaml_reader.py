"""Safe YAML parsing for configs: YAML 1.2 floats, no aliases, bounded nesting, no duplicate keys.

PyYAML (YAML 1.1) reads `1e-3` as a string, expands aliases before anything can check the size
(a "billion laughs" document grows exponentially) and silently keeps the last of two equal keys.
Configs here never need aliases (a hardware file extends another with `base:`), so an alias is
refused where it is parsed, before anything is expanded or built.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent

MAX_DEPTH = 64  # deepest nesting of mappings/lists a config may have (the bundled ones use 4)

# YAML 1.2 core schema floats, written with or without a dot: 1e-3, -2.5E+4, .5, 1.0
_FLOAT_12 = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


class YamlInputError(ValueError):
    """A document the config reader refuses; `line` is 1-based where known."""

    def __init__(self, problem: str, line: int | None = None) -> None:
        super().__init__(problem if line is None else f"{problem} at line {line}")
        self.problem, self.line = problem, line


class ConfigYamlLoader(yaml.SafeLoader):
    """SafeLoader with the rules in the module docstring."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise YamlInputError(
                f"aliases (*{event.anchor}) are not allowed in configs; write the value out, or extend "
                "a bundled hardware file with `base:`",
                event.start_mark.line + 1,
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlInputError(f"nesting deeper than {MAX_DEPTH} levels", self.peek_event().start_mark.line + 1)
            return Composer.compose_node(self, parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.setdefault(key, line)
            except TypeError:  # an unhashable key: let PyYAML report it
                continue
            if first != line:
                raise YamlInputError(f"duplicate key {key!r} at lines {first} and {line}")
        return super().construct_mapping(node, deep=deep)


ConfigYamlLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def parse_yaml(text: str) -> Any:
    """Parse one YAML document by the config rules; YamlInputError or yaml.YAMLError on bad input."""
    return yaml.load(text, Loader=ConfigYamlLoader)  # ConfigYamlLoader is a SafeLoader
