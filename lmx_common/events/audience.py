"""Who may receive an event: party keys, an event's audience and a caller's parties (docs/decisions/0028).

An event's ``audience`` (``outbox_events.audience``) is either NULL, for an event every
``events:read`` client may receive, or a list of party keys: ``municipality:<code>`` for a
municipality, ``oin:<OIN>`` for an organisation. A caller receives such an event (in the feed and
through its webhook subscriptions) only when one of its own party keys is in the list. Which keys a
caller holds is the service's decision (:attr:`EventModels.parties`); the kit's default is its
organisation's OIN.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lmx_common.auth import Principal

MUNICIPALITY_PREFIX = "municipality:"
ORGANISATION_PREFIX = "oin:"


def municipality(code: str) -> str:
    """The party key of a municipality (its CBS code, ``GM0363``)."""
    return MUNICIPALITY_PREFIX + code


def organisation(oin: str) -> str:
    """The party key of an organisation (its OIN)."""
    return ORGANISATION_PREFIX + oin


def audience(*parties: str) -> list[str]:
    """An event's audience: these party keys, each once, in a stable order."""
    return sorted(set(parties))


def organisation_parties(principal: Principal) -> list[str]:
    """The kit's default party keys of a caller: its organisation only."""
    return [organisation(principal.organisation_oin)]


def entitled(event_audience: Sequence[str] | None, parties: Iterable[str] | None) -> bool:
    """Whether a holder of ``parties`` may receive an event with this audience (NULL: everyone)."""
    return event_audience is None or not set(event_audience).isdisjoint(parties or ())
