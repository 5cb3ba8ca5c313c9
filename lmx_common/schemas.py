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

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class CamelInput(CamelModel):
    model_config = ConfigDict(extra="forbid")
