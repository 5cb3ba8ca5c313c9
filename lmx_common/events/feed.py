"""``GET /v1/events``: the service's committed events in feed order, as CloudEvents."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import Principal, require_scopes
from lmx_common.db import request_session
from lmx_common.events import store
from lmx_common.events.outbox import cloud_event_dict, sequence_pending
from lmx_common.events.schemas import CloudEventRead, EventFeed
from lmx_common.events.tables import EventModels
from lmx_common.pagination import Link, PageLinks, decode_cursor, encode_cursor
from lmx_common.problems import InvalidParam, invalid_input
from lmx_common.scopes import Scope

SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]
EventReaderDep = Annotated[Principal, Depends(require_scopes(Scope.EVENTS_READ))]


# Positions one feed request looks at, at most: a caller entitled to few events (docs/decisions/0028)
# gets a page with fewer items, or none, and a `next` cursor where the look stopped, rather than one
# request scanning the whole feed for it.
SCAN_LIMIT = 5000


def encode_position(position: int) -> str:
    return encode_cursor({"p": position})


def decode_position(cursor: str | None, name: str = "after") -> int:
    """The feed position in a cursor; none = the start; a forged one is a 400."""
    if not cursor:
        return 0
    value = decode_cursor(cursor, {"p"}, name=name)["p"]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise invalid_input([InvalidParam(name, "Not a cursor returned by this API.", "cursor", "query")])
    return value


FEED_DESCRIPTION = (
    "Committed events after the cursor, oldest first, as CloudEvents 1.0 (structured JSON). An event "
    "without an audience goes to every client with `events:read`; an event about one person goes only "
    "to the parties in its audience, here and through webhook subscriptions alike.{who} One request "
    f"looks at no more than {SCAN_LIMIT} feed positions: a page can hold fewer events than `limit`, or "
    "none, and still carry a `next` cursor past them. Follow `next` until it no longer changes; then "
    "poll it for later events."
)


def feed_router(models: EventModels, *, audience: str = "") -> APIRouter:
    """The event feed of one service; include it in the service app. ``audience`` completes the
    operation's description: who receives the service's events about one person."""
    router = APIRouter(prefix="/v1", tags=["events"])

    @router.get(
        "/events",
        response_model=EventFeed,
        response_model_by_alias=True,
        summary="Event feed (CloudEvents), oldest first, from a cursor",
        description=FEED_DESCRIPTION.format(who=audience),
    )
    async def list_events(
        request: Request,
        caller: EventReaderDep,
        session: SessionDep,
        after: Annotated[
            str | None, Query(description="The `next` cursor of an earlier page; absent = from the start.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500, description="At most this many events.")] = 100,
    ) -> EventFeed:
        position = decode_position(after)
        await sequence_pending(request.app.state.database, models)
        # Read the head first: every position up to it is committed, so the cursor may move there.
        head = await store.feed_head(session, models)
        upto = min(head, position + SCAN_LIMIT)
        rows = await store.feed_page(session, models, position, limit, upto=upto, parties=models.parties(caller))
        if len(rows) == limit:
            last = rows[-1].position
            assert last is not None
        else:  # every position up to `upto` was looked at: the next page starts after it
            last = max(position, upto)
        cursor = encode_position(last)
        path = request.headers.get("x-forwarded-prefix", "") + request.url.path
        self_href = path + (f"?{request.url.query}" if request.url.query else "")
        next_href = f"{path}?after={quote(cursor, safe='')}&limit={limit}"
        return EventFeed(
            items=[CloudEventRead.model_validate(cloud_event_dict(row, models.source)) for row in rows],
            next=cursor,
            _links=PageLinks(self_=Link(href=self_href), next=Link(href=next_href)),
        )

    return router
