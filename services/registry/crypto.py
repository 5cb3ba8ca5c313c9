"""The BSN at rest: a keyed HMAC pseudonym for matching, and an encrypted value for display."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cached_property

from cryptography.fernet import Fernet, InvalidToken


class BsnVault:
    def __init__(self, pseudonym_key: str, encryption_key: str) -> None:
        self._pseudonym_key = pseudonym_key.encode()
        self._encryption_key = encryption_key

    @cached_property
    def _fernet(self) -> Fernet:
        # Any secret string becomes a 32-byte Fernet key (AES-128-CBC + HMAC-SHA256).
        digest = hashlib.sha256(b"lmx-bsn-encryption:" + self._encryption_key.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))

    def pseudonym(self, bsn: str) -> str:
        return hmac.new(self._pseudonym_key, bsn.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, bsn: str) -> str:
        return self._fernet.encrypt(bsn.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            return None
