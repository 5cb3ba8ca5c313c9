"""A registration's fields, declared once.

Each :class:`Field` names a field's path in the API (a create body's and a read's JSON), its
column on :class:`~services.registry.models.Registration`, its bulk CSV column and how it is
kept. From this one tuple follow: the values of a new registration (ORM object and bulk rows),
a merge patch's apply, the create document a patch is merged into, the read model, the bulk CSV
columns and the bulk fast path's key sets. Everything here is worked out once, at import.

The types stay where they are declared: the pydantic models in ``schemas.py`` and the columns in
``models.py``; ``tests/test_registry_fields.py`` fails when they and this map disagree. How to
add a field: docs/registry.md, "Adding a field to a registration".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from pydantic.alias_generators import to_snake

from lmx_common.auth import Principal
from lmx_common.disclosure import new_record_key
from lmx_common.validation import KVK_NUMBER_PATTERN, LOCATION_ID_PATTERN

if TYPE_CHECKING:
    from services.registry.crypto import BsnVault
    from services.registry.models import Registration
    from services.registry.schemas import RegistrationCreate

# Patterns shared by the schema and the bulk fast path (which matches them in full, ASCII only).
HOUSE_NUMBER_PATTERN = r"^[1-9][0-9]{0,4}( ?[A-Za-z0-9-]{1,6})?$"


@dataclass(frozen=True, slots=True)
class Field:
    path: str
    """In the API, lowerCamelCase, dotted: ``residence.postcode``."""
    column: str
    """The Registration attribute; for an encrypted field the prefix of its two columns, and the key
    of its clear value in a plain row."""
    csv: str
    """The bulk import's CSV column."""
    personal: bool = False
    """Personal data: emptied when a departed registration is anonymised (retention)."""
    encrypted: bool = False
    """Kept only as a keyed pseudonym (``<column>_pseudonym``) and an encrypted value
    (``<column>_encrypted``); answered decrypted."""
    patchable: bool = True
    """A merge patch may change it (else: read-only after creation)."""
    pattern: str | None = None
    """An optional text field whose every check is this pattern: the bulk fast path checks it from
    here. A field without one is checked by the fast path's own code, or the fast path is off."""
    keys: tuple[str, ...] = field(init=False)
    attributes: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        keys = tuple(self.path.split("."))
        object.__setattr__(self, "keys", keys)  # the JSON keys, outermost first
        object.__setattr__(self, "attributes", tuple(map(to_snake, keys)))  # the pydantic attributes

    @property
    def columns(self) -> tuple[str, ...]:
        """The table's columns that hold it."""
        if self.encrypted:
            return (f"{self.column}_pseudonym", f"{self.column}_encrypted")
        return (self.column,)


FIELDS: tuple[Field, ...] = (
    Field("person.bsn", "bsn", "bsn", personal=True, encrypted=True),
    Field("person.givenNames", "given_names", "givenNames", personal=True),
    Field("person.surname", "surname", "surname", personal=True),
    Field("person.dateOfBirth", "date_of_birth", "dateOfBirth", personal=True),
    Field("person.nationality", "nationality", "nationality"),
    Field("person.contact.email", "contact_email", "email", personal=True),
    Field("person.contact.phone", "contact_phone", "phone", personal=True),
    Field("registrationType", "registration_type", "registrationType"),
    Field("channel", "channel", "channel", patchable=False),
    Field("residence.municipalityCode", "residence_municipality_code", "residenceMunicipalityCode"),
    Field("residence.postcode", "residence_postcode", "residencePostcode", personal=True),
    Field(
        "residence.houseNumber",
        "residence_house_number",
        "residenceHouseNumber",
        personal=True,
        pattern=HOUSE_NUMBER_PATTERN,
    ),
    Field("residence.housingLocationId", "housing_location_id", "housingLocationId", pattern=LOCATION_ID_PATTERN),
    Field("work.municipalityCode", "work_municipality_code", "workMunicipalityCode"),
    Field("work.employerKvkNumber", "employer_kvk_number", "employerKvkNumber"),
    Field("work.agencyKvkNumber", "agency_kvk_number", "agencyKvkNumber", pattern=KVK_NUMBER_PATTERN),
    Field("work.economicLocationId", "economic_location_id", "economicLocationId", pattern=LOCATION_ID_PATTERN),
    Field("work.startDate", "work_start_date", "workStartDate"),
    Field("arrivalDate", "arrival_date", "arrivalDate"),
    Field("expectedEndDate", "expected_end_date", "expectedEndDate"),
)

# The read model's sub-objects that are null when every field in them is (schemas.PersonRead.contact).
OPTIONAL_GROUPS = frozenset({"person.contact"})

# What the bulk fast path and the bulk insert single out: the BSN (its duplicates are refused).
(BSN,) = (f for f in FIELDS if f.encrypted)
PLAIN = tuple(f for f in FIELDS if not f.encrypted)


def keys_under(prefix: str = "") -> frozenset[str]:
    """The JSON keys directly under a path ("" for the body): members and sub-objects."""
    depth = len(prefix.split(".")) if prefix else 0
    return frozenset(f.keys[depth] for f in FIELDS if len(f.keys) > depth and ".".join(f.keys[:depth]) == prefix)


# The bulk CSV columns, in this order, and where each goes in a create body.
CSV_COLUMNS: dict[str, tuple[str, ...]] = {f.csv: f.keys for f in FIELDS}

# A merge patch: the top-level keys it may touch, in the order of the fields.
PATCHABLE: tuple[str, ...] = tuple(dict.fromkeys(f.keys[0] for f in FIELDS if f.patchable))
NOT_PATCHABLE: frozenset[str] = frozenset(f.keys[0] for f in FIELDS) - set(PATCHABLE)

# Columns anonymisation empties.
PERSONAL_COLUMNS: tuple[str, ...] = tuple(c for f in FIELDS if f.personal for c in f.columns)

# A new registration's columns, in the order of registration_values; those not named (departure,
# anonymisation) stay NULL.
BOOKKEEPING_COLUMNS = (
    "status",
    "created_by_oin",
    "created_by_client_id",
    "created_by_type",
    "created_at",
    "updated_at",
    "version",
    "record_key",
)
REGISTRATION_COLUMNS: tuple[str, ...] = ("id", *BSN.columns, *(f.column for f in PLAIN), *BOOKKEEPING_COLUMNS)
_plain_values: Callable[[Mapping[str, Any]], tuple[Any, ...]] = itemgetter(*(f.column for f in PLAIN))


def registration_values(
    registration_id: str,
    pseudonym: str | None,
    encrypted: str | None,
    plain: Mapping[str, Any],
    principal: Principal,
    now: datetime,
) -> tuple[Any, ...]:
    """A new registration's values in REGISTRATION_COLUMNS order, for bulk inserts (no ORM object per
    row), from a plain row (see plain_fields) whose BSN is pseudonymised and encrypted already."""
    return (
        registration_id,
        pseudonym,
        encrypted,
        *_plain_values(plain),
        "active",
        principal.organisation_oin,
        principal.client_id,
        principal.organisation_type.value,
        now,
        now,
        1,
        new_record_key(),
    )


def _attribute(obj: Any, attributes: tuple[str, ...]) -> Any:
    for name in attributes:
        if obj is None:
            return None
        obj = getattr(obj, name)
    return obj


def plain_fields(body: RegistrationCreate) -> dict[str, Any]:
    """A validated create body as column values, the BSN still in clear under "bsn" (the shape of
    fast_validation.Checker.plain_row)."""
    return {f.column: _attribute(body, f.attributes) for f in FIELDS}


def apply(registration: Registration, body: RegistrationCreate, vault: BsnVault) -> None:
    """Set every field of a registration from a validated create body (a new one, or a merge patch's
    result)."""
    for name, value in plain_fields(body).items():
        if name == BSN.column:
            pseudonym_column, encrypted_column = BSN.columns
            setattr(registration, pseudonym_column, vault.pseudonym(value) if value else None)
            setattr(registration, encrypted_column, vault.encrypt(value) if value else None)
        else:
            setattr(registration, name, value)


# The read model's document: its sub-objects (outermost first, by their attribute paths, with their
# JSON paths) and where each field goes.
_GROUPS: dict[tuple[str, ...], str] = {
    f.attributes[:depth]: ".".join(f.keys[:depth]) for f in FIELDS for depth in range(len(f.keys))
}
_GROUP_INDEX = {group: index for index, group in enumerate(_GROUPS)}
_READ_PLAN: tuple[tuple[int, str, str, bool], ...] = tuple(
    (_GROUP_INDEX[f.attributes[:-1]], f.attributes[-1], f.columns[-1], f.encrypted) for f in FIELDS
)
# Innermost first: (the group, its parent, its name there, null when all its fields are).
_NESTING: tuple[tuple[int, int, str, bool], ...] = tuple(
    (_GROUP_INDEX[group], _GROUP_INDEX[group[:-1]], group[-1], path in OPTIONAL_GROUPS)
    for group, path in sorted(_GROUPS.items(), key=lambda item: -len(item[0]))
    if group
)


def read_document(registration: Registration, decrypt: Callable[[str], str | None]) -> dict[str, Any]:
    """The registration's fields as the read model's nested document (pydantic attribute names)."""
    groups: list[dict[str, Any]] = [{} for _ in _GROUPS]
    for index, name, column, encrypted in _READ_PLAN:
        value = getattr(registration, column)
        if encrypted and value:
            value = decrypt(value)
        groups[index][name] = value
    for index, parent, name, optional in _NESTING:
        group = groups[index]
        groups[parent][name] = None if optional and all(v is None for v in group.values()) else group
    return groups[0]


def create_document(read: Mapping[str, Any]) -> dict[str, Any]:
    """A read's JSON (by alias) in the shape of a create body, without the absent fields: what a
    merge patch is applied to."""
    document: dict[str, Any] = {}
    for f in FIELDS:
        value: Any = read
        for key in f.keys:
            value = value.get(key) if value is not None else None
        if value is None:
            continue
        target = document
        for key in f.keys[:-1]:
            target = target.setdefault(key, {})
        target[f.keys[-1]] = value
    return document
