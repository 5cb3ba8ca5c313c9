"""The BSN's keys: production refuses weak ones; encrypted values carry their key's id and are read
with previous keys while keys rotate."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.registry.config import RegistrySettings
from services.registry.crypto import BsnVault, key_id

POSTGRES = "postgresql+asyncpg://db/registry"
STRONG_P = "p" * 32
STRONG_E = "e" * 32
# The registry's other production secrets, set so that only the BSN keys are judged here.
OTHER_SECRETS: dict[str, Any] = {"cursor_key": "c" * 32, "audit_signing_key": "ab" * 32}


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        ({"pseudonym_key": "", "encryption_key": STRONG_E}, "pseudonym_key is empty"),
        ({"pseudonym_key": STRONG_P, "encryption_key": "short-but-not-a-dev-marker"}, "encryption_key is shorter"),
        ({"pseudonym_key": STRONG_P, "encryption_key": STRONG_P}, "encryption_key and pseudonym_key are the same"),
        (
            {"pseudonym_key": STRONG_P, "encryption_key": STRONG_E, "previous_encryption_key": "old"},
            "previous_encryption_key is shorter",
        ),
    ],
)
def test_production_refuses_empty_short_and_identical_keys(keys, reason):
    with pytest.raises(ValidationError, match=reason):
        RegistrySettings(environment="production", database_url=POSTGRES, **OTHER_SECRETS, **keys)
    RegistrySettings(environment="development", **keys)  # development takes anything


def test_production_accepts_strong_distinct_keys():
    settings = RegistrySettings(
        environment="production",
        database_url=POSTGRES,
        pseudonym_key=STRONG_P,
        encryption_key=STRONG_E,
        previous_encryption_key="o" * 32,
        **OTHER_SECRETS,
    )
    vault = settings.vault()
    assert vault.current_key_id == key_id(STRONG_E)


def test_encrypted_values_carry_their_key_id_and_previous_keys_still_read():
    old = BsnVault("p" * 32, "old" * 11)
    new = BsnVault("q" * 32, "new" * 11, ("p" * 32,), ("old" * 11,))
    token = old.encrypt("111222333")
    assert token.startswith(key_id("old" * 11) + ":") and not new.is_current(token)
    assert new.decrypt(token) == "111222333"
    assert new.is_current(new.encrypt("111222333"))
    assert BsnVault("q" * 32, "new" * 11).decrypt(token) is None  # the old key gone: unreadable
    # Before key ids: a bare Fernet token is tried with every key.
    assert new.decrypt(token.split(":", 1)[1]) == "111222333"
    # The pseudonyms: the current key's first (what is stored), then the previous key's.
    assert new.pseudonyms("111222333") == (new.pseudonym("111222333"), old.pseudonym("111222333"))
    assert old.pseudonyms("111222333") == (old.pseudonym("111222333"),)
