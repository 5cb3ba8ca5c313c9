"""Demo clients, one per party type of DESIGN section 2. Development only."""

from __future__ import annotations

from gateway.clients import NewClient
from lmx_common.scopes import Scope


def _oin(n: int) -> str:
    return f"00000099{n:012d}"  # test OINs start with 00000099


MUNICIPALITY_SCOPES = (
    Scope.REGISTRY_READ,
    Scope.REGISTRY_WRITE,
    Scope.REGISTRY_STATISTICS,
    Scope.HOUSING_READ,
    Scope.HOUSING_WRITE,
    Scope.FAIR_SHARE_READ,
    Scope.REPORTS_READ,
    Scope.REPORTS_WRITE,
    Scope.CERTIFICATION_READ,
    Scope.EVENTS_READ,
)

DEMO_CLIENTS: tuple[NewClient, ...] = (
    NewClient(
        "halderberge",
        "Gemeente Halderberge",
        _oin(1655),
        "municipality",
        MUNICIPALITY_SCOPES,
        municipality_code="GM1655",
    ),
    NewClient(
        "breda",
        "Gemeente Breda",
        _oin(758),
        "municipality",
        MUNICIPALITY_SCOPES,
        municipality_code="GM0758",
    ),
    NewClient(
        "mip-west-brabant",
        "Migration Information Point West-Brabant (Breda)",
        _oin(900758),
        "information-point",
        (Scope.REGISTRY_READ, Scope.REGISTRY_WRITE, Scope.REPORTS_WRITE),
        municipality_code="GM0758",
    ),
    NewClient(
        "noord-brabant",
        "Provincie Noord-Brabant",
        _oin(3000),
        "province",
        (Scope.REGISTRY_STATISTICS, Scope.FAIR_SHARE_READ, Scope.HOUSING_READ, Scope.CERTIFICATION_READ),
        province_code="PV30",
    ),
    NewClient(
        "national",
        "Ministry of the Interior (national)",
        _oin(1),
        "national",
        (
            Scope.REGISTRY_STATISTICS,
            Scope.FAIR_SHARE_READ,
            Scope.HOUSING_READ,
            Scope.CERTIFICATION_READ,
            Scope.EVENTS_READ,
        ),
    ),
    NewClient(
        "inspectorate",
        "Labour Inspectorate (Nederlandse Arbeidsinspectie)",
        _oin(2),
        "inspectorate",
        (
            Scope.REPORTS_READ,
            Scope.REPORTS_WRITE,
            Scope.CERTIFICATION_READ,
            Scope.REGISTRY_STATISTICS,
            Scope.EVENTS_READ,
        ),
    ),
    NewClient(
        "nau-certifier",
        "NAU — WTTA admissions",
        _oin(3),
        "certifier",
        (Scope.CERTIFICATION_READ, Scope.CERTIFICATION_WRITE, Scope.REPORTS_READ, Scope.EVENTS_READ),
    ),
    NewClient(
        "housing-service",
        "Housing service (machine client)",
        _oin(4),
        "service",
        (Scope.REGISTRY_STATISTICS, Scope.REGISTRY_STATISTICS_EXACT, Scope.CERTIFICATION_READ, Scope.EVENTS_READ),
    ),
)
