"""Where in the YAML file an error is: ``schedules.primary.timezone``, not ``schedules.0.timezone``.

A list item is named by its ``name`` (people by ``id``) when that is a plain name no
other item of the list has, else by its index. ``field_path`` turns pydantic's error
locations into such paths; ``integrations.config.model`` uses ``labels`` for the checks it makes
itself.
"""
from __future__ import annotations

import re
from typing import Any

#: The names a path may use for an item (the pattern of schedule names and person ids).
NAME = r"^[A-Za-z0-9_.-]+$"


def message(text: str) -> str:
    """pydantic's message without the "Value error, " it puts before a validator's own."""
    return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")


#: The key that names the items of a list, by the list's key; "name" for the others.
_ITEM_NAMES = {"people": "id"}


def labels(items: list[Any], key: str = "name") -> list[str]:
    """How an error names each item of a list: by its ``key`` (a schedule's name, a
    person's id) when that is a plain name no other item has, else by its index."""
    names = [item.get(key) if isinstance(item, dict) else getattr(item, key, None) for item in items]
    return [name if isinstance(name, str) and re.match(NAME, name) and names.count(name) == 1 else str(i)
            for i, name in enumerate(names)]


def field_path(raw: Any, loc: tuple[Any, ...]) -> str:
    """pydantic's location of an error as a path through the file, items named by ``labels``."""
    parts: list[str] = []
    node, parent = raw, None
    for key in loc:
        if isinstance(key, int) and isinstance(node, list) and 0 <= key < len(node):
            parts.append(labels(node, _ITEM_NAMES.get(str(parent), "name"))[key])
            node = node[key]
        else:
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
        parent = key
    return ".".join(parts)
