"""The base of every API body: lowerCamelCase on the wire, snake_case in Python.

``CamelModel`` derives each field's alias with ``to_camel`` (``kvk_number`` <-> ``kvkNumber``);
``populate_by_name`` lets Python code build a model with either name, and ``from_attributes``
lets a model read an ORM row. ``CamelInput`` is the base of request bodies: an unknown field is
refused (400) rather than silently ignored. Numbers and booleans in request bodies are
``StrictInt`` / ``StrictFloat`` / ``StrictBool``: FastAPI validates the parsed JSON in pydantic's
python mode, where a lax ``int`` takes ``true`` and ``"10"`` (a strict float still takes ``1``).
Dates stay lax on purpose: JSON carries them as ISO strings, which a strict ``date`` refuses in
python mode. ``tests/unit/test_kit_input_types.py`` holds every request body to this.

Timestamps in bodies are ``datetime`` fields read from :class:`lmx_common.db.UtcDateTime` columns,
so answers carry UTC with an offset.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

# Marks a schema whose examples lmx_common.app puts back as given (see Examples).
EXAMPLES_KEY = "x-lmx-examples"
_GIVEN: dict[str, list[Any]] = {}


class Examples:
    """A model's OpenAPI examples: ``model_config = ConfigDict(json_schema_extra=examples({...}))``.

    FastAPI publishes its document without null values (``exclude_none``), which would take every
    ``null`` out of an example: an example of a required nullable property would then fail its own
    schema. The schema carries a key naming the model, and the OpenAPI post-processing
    (``lmx_common.app``) puts the examples back exactly as given, nulls and all.
    """

    def __init__(self, values: tuple[Any, ...]) -> None:
        self.values = list(values)

    def __call__(self, schema: JsonDict, model: type[Any]) -> None:
        key = f"{model.__module__}.{model.__qualname__}"
        _GIVEN[key] = self.values
        schema["examples"] = copy.deepcopy(self.values)
        schema[EXAMPLES_KEY] = key


def examples(*values: Any) -> Examples:
    return Examples(values)


def given_examples(key: str) -> list[Any]:
    """The examples a model named ``key`` (its schema's ``x-lmx-examples``) was given, as given."""
    return copy.deepcopy(_GIVEN[key])


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class CamelInput(CamelModel):
    model_config = ConfigDict(extra="forbid")
