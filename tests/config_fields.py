"""The configuration file's schema as the tests see it: every pydantic model the YAML
file can contain and every field of each, found through the annotations, so a field or
a section added later is picked up by the tests that walk them (docs, errors)."""
from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel

from integrations.config.model import FileSpec


def reachable_models(root: type[BaseModel] = FileSpec) -> list[type[BaseModel]]:
    """Every pydantic model reachable from ``root`` through field annotations."""
    found: list[type[BaseModel]] = []

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in found:
                found.append(annotation)
                for field in annotation.model_fields.values():
                    visit(field.annotation)
        for arg in get_args(annotation):
            visit(arg)

    visit(root)
    return found


def yaml_key(model: type[BaseModel], name: str) -> str:
    """The key a field has in the YAML file (its alias, e.g. ``continue``, or its name)."""
    return model.model_fields[name].alias or name


def schema_fields(root: type[BaseModel] = FileSpec) -> list[str]:
    """``Model.key`` for every field of every model in the file, e.g. ``ScheduleSpec.timezone``."""
    return [f"{model.__name__}.{yaml_key(model, name)}"
            for model in reachable_models(root) for name in model.model_fields]
