"""UtcDateTime, the one timestamp column type: naive values are refused, answers are UTC with an offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from lmx_common.db import UtcDateTime
from lmx_common.schemas import CamelInput, CamelModel

AMSTERDAM_SUMMER = timezone(timedelta(hours=2))


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_a_naive_datetime_is_refused(dialect):
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(datetime(2026, 6, 1, 12, 0), dialect)


def test_an_aware_datetime_is_stored_in_utc():
    stored = UtcDateTime().process_bind_param(datetime(2026, 6, 1, 14, 0, tzinfo=AMSTERDAM_SUMMER), sqlite.dialect())
    assert stored == datetime(2026, 6, 1, 12, 0, tzinfo=UTC) and stored.utcoffset() == timedelta(0)


@pytest.mark.parametrize("read", [datetime(2026, 6, 1, 12, 0), datetime(2026, 6, 1, 14, 0, tzinfo=AMSTERDAM_SUMMER)])
def test_values_read_back_are_utc_with_an_offset(read):
    value = UtcDateTime().process_result_value(read, sqlite.dialect())
    assert value == datetime(2026, 6, 1, 12, 0, tzinfo=UTC) and value.tzinfo is UTC


def test_none_passes_both_ways():
    assert UtcDateTime().process_bind_param(None, sqlite.dialect()) is None
    assert UtcDateTime().process_result_value(None, sqlite.dialect()) is None


class Thing(CamelInput):
    kvk_number: str
    created_at: datetime | None = None


def test_camel_models_speak_camel_case_and_accept_python_names():
    assert Thing.model_validate({"kvkNumber": "1"}).kvk_number == "1"
    assert Thing(kvk_number="1").model_dump(by_alias=True) == {"kvkNumber": "1", "createdAt": None}


def test_camel_inputs_refuse_unknown_fields_and_outputs_read_attributes():
    with pytest.raises(ValueError):
        Thing.model_validate({"kvkNumber": "1", "extra": 2})

    class Out(CamelModel):
        kvk_number: str

    assert Out.model_validate(Thing(kvk_number="2")).kvk_number == "2"
