"""Demo data for `lmx up`: West-Brabant agencies and landlords (fictitious KvK numbers) with a mix
of certificate statuses and histories, and abuse reports in follow-up. Idempotent."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import OrganisationType, Principal
from lmx_common.scopes import Scope
from services.certification import repository, service
from services.certification.schemas import (
    CertificateCreate,
    OrganisationCreate,
    ReportCreate,
    ReportNoteCreate,
    StatusChangeCreate,
)


def _principal(client_id: str, oin_number: int, org_type: OrganisationType, **codes: str) -> Principal:
    # The demo clients of lmx_cli/demo.py (test OINs start with 00000099).
    return Principal(
        client_id=client_id,
        organisation_oin=f"00000099{oin_number:012d}",
        organisation_type=org_type,
        scopes=frozenset({Scope.CERTIFICATION_WRITE, Scope.REPORTS_READ, Scope.REPORTS_WRITE}),
        token_id="demo-data",  # noqa: S106 - an identifier, not a secret
        expires_at=0,
        **codes,
    )


NAU = _principal("nau-certifier", 3, OrganisationType.CERTIFIER)
INSPECTORATE = _principal("inspectorate", 2, OrganisationType.INSPECTORATE)
HALDERBERGE = _principal("halderberge", 1655, OrganisationType.MUNICIPALITY, municipality_code="GM1655")
BREDA = _principal("breda", 758, OrganisationType.MUNICIPALITY, municipality_code="GM0758")
MIP = _principal("mip-west-brabant", 900758, OrganisationType.INFORMATION_POINT, municipality_code="GM0758")

ORGANISATIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("71230001", "Flexkracht Roosendaal B.V.", ("employment-agency",)),
    ("71230002", "Havenpoort Uitzendbureau Moerdijk B.V.", ("employment-agency",)),
    ("71230003", "Brabant Inzet Etten-Leur B.V.", ("employment-agency", "landlord")),
    ("71230004", "Grenswerk Bergen op Zoom B.V.", ("employment-agency",)),
    ("71230005", "Logistiek Personeel Oosterhout B.V.", ("employment-agency",)),
    ("71230101", "Short Stay Halderberge B.V.", ("landlord",)),
    ("71230102", "Wonen aan de Mark Breda B.V.", ("landlord",)),
    ("71230103", "Kamers Zevenbergen V.O.F.", ("landlord",)),
)

# kvk, scheme, valid from, valid until, housing locations, [(status, effective date, reason)]
CERTIFICATES: tuple[tuple[str, str, str, str | None, tuple[str, ...], tuple[tuple[str, str, str], ...]], ...] = (
    ("71230001", "wtta-admission", "2026-05-01", "2029-04-30", (), (
        ("provisional", "2026-04-01", "Documents complete; audit planned."),
        ("granted", "2026-05-01", "Audit passed."),
    )),
    ("71230001", "sna-nen-4400", "2025-06-01", "2027-05-31", (), (
        ("granted", "2025-06-01", "NEN 4400-1 inspection passed."),
    )),
    ("71230002", "wtta-admission", "2026-04-01", "2029-03-31", (), (
        ("granted", "2026-04-01", "Audit passed."),
        ("suspended", "2026-10-15", "Wage payments under investigation."),
    )),
    ("71230003", "wtta-admission", "2026-03-01", "2029-02-28", (), (
        ("granted", "2026-03-01", "Audit passed."),
        ("revoked", "2026-09-01", "Repeated underpayment established by the inspectorate."),
    )),
    ("71230004", "wtta-admission", "2026-11-01", None, (), ()),
    ("71230005", "wtta-admission", "2026-06-01", None, (), (
        ("refused", "2026-08-01", "Guarantee deposit not provided."),
    )),
    ("71230101", "snf-housing", "2025-09-01", "2027-08-31", ("hl-halderberge-oudenbosch-1", "hl-halderberge-2"), (
        ("granted", "2025-09-01", "Inspection of both locations passed."),
    )),
    # Granted until the end of October: the expiry job turns it into expired on its own.
    ("71230102", "snf-housing", "2024-11-01", "2026-10-31", ("hl-breda-haagse-beemden-1",), (
        ("granted", "2024-11-01", "Inspection passed."),
    )),
    ("71230103", "snf-housing", "2025-01-01", "2027-12-31", ("hl-moerdijk-zevenbergen-1",), (
        ("granted", "2025-01-01", "Inspection passed."),
        ("suspended", "2026-11-10", "Overcrowding reported; re-inspection pending."),
    )),
)  # fmt: skip

# reporter, kvk, location, municipality, category, observed on, description, follow-ups
REPORTS = (
    (MIP, "71230103", "hl-moerdijk-zevenbergen-1", "GM1709", "overcrowding", "2026-11-05",
     "More beds than permitted; residents report fourteen people in one house.", (
        (INSPECTORATE, "investigating", "2026-11-08", "Visit with the municipality planned."),
    )),
    (HALDERBERGE, "71230002", None, "GM1655", "underpayment", "2026-10-01",
     "Workers report hours not paid for three weeks.", (
        (INSPECTORATE, "investigating", "2026-10-05", "Payroll records requested."),
        (INSPECTORATE, "referred", "2026-10-14", "Referred to the NAU; admission suspended."),
    )),
    (BREDA, "71230102", "hl-breda-haagse-beemden-1", "GM0758", "deposit-or-fee-abuse", "2026-11-12",
     "Deposit withheld on departure without reason.", ()),
    (INSPECTORATE, "71230003", None, "GM0777", "excessive-hours", "2026-07-20",
     "Shifts of fourteen hours, six days a week.", (
        (INSPECTORATE, "investigating", "2026-07-25", "Interviews held."),
        (INSPECTORATE, "resolved", "2026-09-01", "Fine imposed; admission revoked by the NAU."),
    )),
)  # fmt: skip


async def load_demo(session: AsyncSession) -> int:
    """Adds the demo organisations, certificates and reports once; returns rows added."""
    if await repository.organisation(session, ORGANISATIONS[0][0]) is not None:
        return 0
    added = 0
    for kvk, name, kinds in ORGANISATIONS:
        await service.create_organisation(
            session, NAU, OrganisationCreate(kvk_number=kvk, name=name, kinds=list(kinds))
        )
        added += 1
    for kvk, scheme, valid_from, valid_until, locations, steps in CERTIFICATES:
        applied_on = min([date.fromisoformat(valid_from)] + [date.fromisoformat(s[1]) for s in steps])
        certificate = await service.create_certificate(
            session,
            NAU,
            CertificateCreate.model_validate(
                {
                    "kvkNumber": kvk,
                    "scheme": scheme,
                    "validFrom": valid_from,
                    "validUntil": valid_until,
                    "housingLocationIds": list(locations),
                    "appliedOn": applied_on,
                }
            ),
        )
        added += 2
        for status, effective, reason in steps:
            await service.change_status(
                session,
                NAU,
                certificate.id,
                StatusChangeCreate(status=status, reason=reason, effective_date=date.fromisoformat(effective)),
            )
            added += 2
    for reporter, kvk, location, municipality, category, observed, description, follow_ups in REPORTS:
        report = await service.create_report(
            session,
            reporter,
            ReportCreate.model_validate(
                {
                    "kvkNumber": kvk,
                    "housingLocationId": location,
                    "municipalityCode": municipality,
                    "category": category,
                    "description": description,
                    "observedOn": observed,
                }
            ),
        )
        added += 2
        for actor, status, noted_on, note in follow_ups:
            await service.add_note(
                session,
                actor,
                report.id,
                ReportNoteCreate(note=note, date=date.fromisoformat(noted_on), status=status),
            )
            added += 2
    return added
