"""The certificate status machine is the one the issue specifies."""

from __future__ import annotations

from services.certification.rules import CERTIFICATE_TRANSITIONS


def test_the_machine_is_the_one_the_issue_specifies():
    assert CERTIFICATE_TRANSITIONS == {
        "applied": ("provisional", "granted", "refused"),
        "provisional": ("granted", "revoked", "refused"),
        "granted": ("suspended", "revoked", "ended", "expired"),
        "suspended": ("granted", "revoked"),
        "revoked": (),
        "refused": (),
        "ended": (),
        "expired": (),
    }
