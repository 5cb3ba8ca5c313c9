"""The base of every API body: lowerCamelCase on the wire, snake_case in Python.

``CamelModel`` derives each field's alias with ``to_camel`` (``kvk_number`` <-> ``kvkNumber``);
``populate_by_name`` lets Python code build a model with either name, and ``from_attributes``
lets a model read an ORM row. ``CamelInput`` is the base of request bodies: an unknown field is
refused (400) rather than silently ignored. Timestamps in bodies are ``datetime`` fields read
from :class:`lmx_common.db.UtcDateTime` columns, so answers carry UTC with an offset.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class CamelInput(CamelModel):
    model_config = ConfigDict(extra="forbid")
