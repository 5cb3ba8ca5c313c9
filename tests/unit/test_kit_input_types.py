"""Request bodies take JSON numbers and booleans only as such: no `true` for a count, no `"10"`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from lmx_common.routes import api_routes
from services.certification.main import create_app as certification
from services.housing.main import create_app as housing
from services.housing.schemas import DistributionKeyItem, OccupancyReportCreate
from services.registry.main import create_app as registry


def _lax_scalars(schema: Any, path: str = "") -> Iterator[str]:
    """Paths of int/float/bool schemas without strict=True in a pydantic core schema."""
    if isinstance(schema, dict):
        kind = schema.get("type")
        if isinstance(kind, str) and kind in {"int", "float", "bool"} and not schema.get("strict"):
            yield path or schema["type"]
        for key, value in schema.items():
            yield from _lax_scalars(value, f"{path}.{key}" if path else str(key))
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _lax_scalars(value, f"{path}[{index}]")


def test_every_request_body_number_and_boolean_is_strict():
    """Every body model of every service's routes (nested models included in its core schema)."""
    bodies: dict[str, type[BaseModel]] = {}
    for create_app in (registry, certification, housing):
        for route in api_routes(create_app()):
            if route.body_field is not None:
                model = route.body_field.field_info.annotation
                if isinstance(model, type) and issubclass(model, BaseModel):
                    bodies[f"{model.__module__}.{model.__name__}"] = model
    assert len(bodies) >= 10
    lax = {name: list(_lax_scalars(model.__pydantic_core_schema__)) for name, model in bodies.items()}
    assert {name: paths for name, paths in lax.items() if paths} == {}


@pytest.mark.parametrize("value", [True, "10", 10.5])
def test_a_count_takes_only_a_json_integer(value):
    with pytest.raises(ValidationError):
        OccupancyReportCreate.model_validate({"date": "2026-01-01", "occupiedBeds": value})
    assert OccupancyReportCreate.model_validate({"date": "2026-01-01", "occupiedBeds": 10}).occupied_beds == 10


@pytest.mark.parametrize("value", [True, "0.5"])
def test_a_share_takes_only_a_json_number(value):
    with pytest.raises(ValidationError):
        DistributionKeyItem.model_validate({"municipalityCode": "GM1655", "share": value})
    assert DistributionKeyItem.model_validate({"municipalityCode": "GM1655", "share": 1}).share == 1.0
