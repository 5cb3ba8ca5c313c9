"""The BSN at rest: a keyed HMAC pseudonym for matching, and an encrypted value for display.

Both keys can be rotated (docs/operations.md, "BSN key rotation"): the vault holds the current
keys, which every new value is made with, and optionally the previous ones, which are still read
while `lmx registry rotate-keys run` rewrites the stored values. An encrypted value carries the id of
its key (``<key id>:<Fernet token>``); a value without one (written before key ids) is tried with
every key. A pseudonym carries no id: lookups try the pseudonym of every key (``pseudonyms``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken

KEY_ID_SEPARATOR = ":"  # never in a Fernet token (URL-safe base64)


def key_id(encryption_key: str) -> str:
    """A short public id of an encryption key (not a secret: a hash that reveals nothing of it)."""
    return hashlib.sha256(b"lmx-bsn-key-id:" + encryption_key.encode()).hexdigest()[:8]


def _fernet(encryption_key: str) -> Fernet:
    # Any secret string becomes a 32-byte Fernet key (AES-128-CBC + HMAC-SHA256).
    digest = hashlib.sha256(b"lmx-bsn-encryption:" + encryption_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class BsnVault:
    def __init__(
        self,
        pseudonym_key: str,
        encryption_key: str,
        previous_pseudonym_keys: tuple[str, ...] = (),
        previous_encryption_keys: tuple[str, ...] = (),
    ) -> None:
        self._pseudonym_keys = tuple(dict.fromkeys(k.encode() for k in (pseudonym_key, *previous_pseudonym_keys) if k))
        self._current_id = key_id(encryption_key)
        self._fernets = {key_id(k): _fernet(k) for k in (encryption_key, *previous_encryption_keys) if k}
        self._current = self._fernets[self._current_id]

    @property
    def current_key_id(self) -> str:
        return self._current_id

    def pseudonym(self, bsn: str) -> str:
        """The pseudonym new values are stored with (the current key)."""
        return hmac.new(self._pseudonym_keys[0], bsn.encode(), hashlib.sha256).hexdigest()

    def pseudonyms(self, bsn: str) -> tuple[str, ...]:
        """Every pseudonym this BSN may be stored under while keys rotate: the current one first."""
        return tuple(hmac.new(k, bsn.encode(), hashlib.sha256).hexdigest() for k in self._pseudonym_keys)

    def encrypt(self, bsn: str) -> str:
        return self._current_id + KEY_ID_SEPARATOR + self._current.encrypt(bsn.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        kid, separator, body = token.rpartition(KEY_ID_SEPARATOR)
        candidates = [self._fernets[kid]] if separator and kid in self._fernets else []
        if not separator:  # written before key ids: any key may have made it
            candidates = list(self._fernets.values())
        for fernet in candidates:
            try:
                return fernet.decrypt(body.encode()).decode()
            except InvalidToken:
                continue
        return None

    def is_current(self, token: str) -> bool:
        """Whether a stored encrypted value is under the current key."""
        return token.startswith(self._current_id + KEY_ID_SEPARATOR)
