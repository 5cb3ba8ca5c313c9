"""The gateway's own tables: clients, signing keys, used client assertions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lmx_common.db import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Client(Base):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation_oin: Mapped[str] = mapped_column(String(20))
    organisation_type: Mapped[str] = mapped_column(String(30))
    municipality_code: Mapped[str | None] = mapped_column(String(6))
    province_code: Mapped[str | None] = mapped_column(String(4))
    scopes: Mapped[str] = mapped_column(Text)  # space-separated
    secret_hash: Mapped[str | None] = mapped_column(Text)  # argon2id
    public_key_pem: Mapped[str | None] = mapped_column(Text)  # for private_key_jwt
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_key_pem: Mapped[str] = mapped_column(Text)  # encrypted PKCS#8
    public_jwk: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when a newer key takes over signing; the key stays published until expires_at.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UsedAssertion(Base):
    """jti values of accepted client assertions, kept until the assertion expires (RFC 7523 replay).

    ``jti`` holds ``sha256:<hex>`` of the whole jti (gateway.oauth.jti_key), never the jti cut short.
    """

    __tablename__ = "used_assertions"

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
