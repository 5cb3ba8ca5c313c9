"""Demo clients, one per party type of DESIGN section 2. Development only."""

from __future__ import annotations

from gateway.clients import NewClient


def _oin(n: int) -> str:
    return f"00000099{n:012d}"  # test OINs start with 00000099


DEMO_CLIENTS: tuple[NewClient, ...] = (
    NewClient(
        "halderberge",
        "Gemeente Halderberge",
        _oin(1655),
        "municipality",
        (
            "registry:read",
            "registry:write",
            "registry:statistics",
            "housing:read",
            "housing:write",
            "fair-share:read",
            "reports:read",
            "reports:write",
            "certification:read",
            "events:read",
        ),
        municipality_code="GM1655",
    ),
    NewClient(
        "breda",
        "Gemeente Breda",
        _oin(758),
        "municipality",
        (
            "registry:read",
            "registry:write",
            "registry:statistics",
            "housing:read",
            "housing:write",
            "fair-share:read",
            "reports:read",
            "reports:write",
            "certification:read",
            "events:read",
        ),
        municipality_code="GM0758",
    ),
    NewClient(
        "mip-west-brabant",
        "Migration Information Point West-Brabant (Breda)",
        _oin(900758),
        "information-point",
        ("registry:read", "registry:write", "reports:write"),
        municipality_code="GM0758",
    ),
    NewClient(
        "noord-brabant",
        "Provincie Noord-Brabant",
        _oin(3000),
        "province",
        ("registry:statistics", "fair-share:read", "housing:read", "certification:read"),
        province_code="PV30",
    ),
    NewClient(
        "national",
        "Ministry of the Interior (national)",
        _oin(1),
        "national",
        ("registry:statistics", "fair-share:read", "housing:read", "certification:read", "events:read"),
    ),
    NewClient(
        "inspectorate",
        "Labour Inspectorate (Nederlandse Arbeidsinspectie)",
        _oin(2),
        "inspectorate",
        ("reports:read", "reports:write", "certification:read", "registry:statistics", "events:read"),
    ),
    NewClient(
        "nau-certifier",
        "NAU — WTTA admissions",
        _oin(3),
        "certifier",
        ("certification:read", "certification:write", "reports:read", "events:read"),
    ),
    NewClient(
        "housing-service",
        "Housing service (machine client)",
        _oin(4),
        "service",
        ("registry:statistics", "registry:statistics-exact", "certification:read", "events:read"),
    ),
)
