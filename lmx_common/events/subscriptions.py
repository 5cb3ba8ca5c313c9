"""Webhook subscriptions: create, list, read, delete, delivery list, and replay of dead letters."""

import base64
import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.events.feed import EventReaderDep, SessionDep, decode_position
from lmx_common.events.schemas import (
    DeliveryList,
    DeliveryRead,
    DeliveryState,
    ReplayCreate,
    ReplayRead,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionRead,
)
from lmx_common.events.tables import EventModels, SubscriptionColumns
from lmx_common.pagination import cut_page
from lmx_common.problems import InvalidParam, ProblemError, invalid_input, problem_openapi_response

PENDING, DELIVERED, DEAD_LETTERED = "pending", "delivered", "dead-lettered"
DELIVERY_STATUSES = (PENDING, DELIVERED, DEAD_LETTERED)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: problem_openapi_response("No such subscription of this client.")}


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def validate_subscription(body: SubscriptionCreate, models: EventModels, require_https: bool) -> None:
    """Every invalid field at once, as a 400."""
    params: list[InvalidParam] = []
    parts = urlsplit(body.callback_url)
    allowed = ("https",) if require_https else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname:
        params.append(InvalidParam("callbackUrl", f"Must be an absolute {' or '.join(allowed)} URL.", "url", "body"))
    elif parts.username or parts.password or parts.fragment:
        params.append(InvalidParam("callbackUrl", "Must not carry credentials or a fragment.", "url", "body"))
    if not body.event_types:
        params.append(InvalidParam("eventTypes", "Name at least one event type.", "too_short", "body"))
    unknown = sorted(set(body.event_types) - set(models.event_types))
    if unknown:
        params.append(
            InvalidParam(
                "eventTypes",
                f"Unknown event type(s) {', '.join(unknown)}; known: {', '.join(models.event_types)}.",
                "enum",
                "body",
            )
        )
    if params:
        raise invalid_input(params)


def _empty_state() -> DeliveryState:
    return DeliveryState(
        pending=0,
        delivered=0,
        deadLettered=0,
        failedAttempts=0,
        lastError=None,
        lastAttemptAt=None,
        nextAttemptAt=None,
    )


async def delivery_states(
    session: AsyncSession, models: EventModels, subscription_ids: list[str]
) -> dict[str, DeliveryState]:
    """Per subscription, counts and schedule of its deliveries, aggregated in SQL."""
    d = models.delivery
    states = {sid: _empty_state() for sid in subscription_ids}
    if not subscription_ids:
        return states
    rows = await session.execute(
        select(
            d.subscription_id,
            func.sum(case((d.status == PENDING, 1), else_=0)),
            func.sum(case((d.status == DELIVERED, 1), else_=0)),
            func.sum(case((d.status == DEAD_LETTERED, 1), else_=0)),
            func.sum(case((d.status == DELIVERED, d.attempts - 1), else_=d.attempts)),
            func.max(d.last_attempt_at),
            func.min(case((d.status == PENDING, d.next_attempt_at), else_=None)),
        )
        .where(d.subscription_id.in_(subscription_ids))
        .group_by(d.subscription_id)
    )
    for sid, pending, delivered, dead, failed, last_attempt, next_attempt in rows:
        state = states[sid]
        state.pending, state.delivered, state.dead_lettered = int(pending or 0), int(delivered or 0), int(dead or 0)
        state.failed_attempts = int(failed or 0)
        state.last_attempt_at = _aware(last_attempt)
        state.next_attempt_at = _aware(next_attempt)
    for sid in subscription_ids:  # the latest error of each (a client has few subscriptions)
        states[sid].last_error = (
            await session.execute(
                select(d.last_error)
                .where(d.subscription_id == sid, d.last_error.is_not(None))
                .order_by(d.last_attempt_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    return states


def _aware(value: Any) -> datetime | None:
    """Aggregates may bypass the column type; SQLite can hand back naive text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _read(row: SubscriptionColumns, state: DeliveryState) -> dict[str, Any]:
    return {
        "id": row.id,
        "callbackUrl": row.callback_url,
        "eventTypes": list(row.event_types),
        "createdAt": row.created_at,
        "deliveryState": state,
    }


def subscriptions_router(models: EventModels, *, require_https: bool = False) -> APIRouter:
    """Webhook subscriptions of one service; each client sees and manages only its own."""
    router = APIRouter(prefix="/v1", tags=["events"])
    sub = models.subscription

    async def owned_subscription(
        caller: EventReaderDep,
        session: SessionDep,
        subscription_id: Annotated[str, Path(alias="subscriptionId", max_length=36)],
    ) -> SubscriptionColumns:
        row = (
            await session.execute(select(sub).where(sub.id == subscription_id, sub.client_id == caller.client_id))
        ).scalar_one_or_none()
        if row is None:
            raise ProblemError(404, "No such subscription.", slug="not-found")
        return row

    OwnedDep = Annotated[SubscriptionColumns, Depends(owned_subscription)]

    @router.post(
        "/subscriptions",
        status_code=status.HTTP_201_CREATED,
        response_model=SubscriptionCreated,
        summary="Subscribe a webhook to event types; the signing secret is returned once",
    )
    async def create_subscription(
        body: SubscriptionCreate, caller: EventReaderDep, session: SessionDep, request: Request, response: Response
    ) -> dict[str, Any]:
        validate_subscription(body, models, require_https)
        row = sub(
            id=str(uuid.uuid4()),
            client_id=caller.client_id,
            organisation_oin=caller.organisation_oin,
            callback_url=body.callback_url,
            event_types=sorted(set(body.event_types)),
            secret=new_secret(),
            created_at=datetime.now(UTC),
        )
        session.add(row)
        await session.flush()
        prefix = request.headers.get("x-forwarded-prefix", "")
        response.headers["Location"] = f"{prefix}/v1/subscriptions/{row.id}"
        return _read(row, _empty_state()) | {"secret": row.secret}

    @router.get("/subscriptions", response_model=SubscriptionList, summary="The caller's subscriptions")
    async def list_subscriptions(caller: EventReaderDep, session: SessionDep) -> dict[str, Any]:
        rows = (
            (await session.execute(select(sub).where(sub.client_id == caller.client_id).order_by(sub.created_at)))
            .scalars()
            .all()
        )
        states = await delivery_states(session, models, [r.id for r in rows])
        return {"items": [_read(r, states[r.id]) for r in rows]}

    @router.get(
        "/subscriptions/{subscriptionId}",
        response_model=SubscriptionRead,
        responses=NOT_FOUND,
        summary="One subscription with its delivery state",
    )
    async def read_subscription(row: OwnedDep, session: SessionDep) -> dict[str, Any]:
        state = (await delivery_states(session, models, [row.id]))[row.id]
        return _read(row, state)

    @router.delete(
        "/subscriptions/{subscriptionId}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=NOT_FOUND,
        summary="Unsubscribe; pending deliveries are dropped",
    )
    async def delete_subscription(row: OwnedDep, session: SessionDep) -> Response:
        await session.execute(delete(models.delivery).where(models.delivery.subscription_id == row.id))
        await session.execute(delete(sub).where(sub.id == row.id))
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get(
        "/subscriptions/{subscriptionId}/deliveries",
        response_model=DeliveryList,
        responses=NOT_FOUND,
        summary="This subscription's deliveries in feed order, optionally of one state",
    )
    async def list_deliveries(
        row: OwnedDep,
        session: SessionDep,
        request: Request,
        delivery_status: Annotated[
            str | None, Query(alias="status", pattern="^(pending|delivered|dead-lettered)$")
        ] = None,
        cursor: Annotated[str | None, Query()] = None,
        page_size: Annotated[int, Query(alias="pageSize", ge=1, le=500)] = 100,
    ) -> DeliveryList:
        d = models.delivery
        after = decode_position(cursor, "cursor")
        query = select(d).where(d.subscription_id == row.id, d.position > after)
        if delivery_status:
            query = query.where(d.status == delivery_status)
        rows = (await session.execute(query.order_by(d.position).limit(page_size + 1))).scalars().all()
        page, links = cut_page(request, rows, page_size, lambda r: {"p": r.position})
        return DeliveryList(
            items=[
                DeliveryRead(
                    eventId=r.event_id,
                    status=r.status,
                    attempts=r.attempts,
                    nextAttemptAt=r.next_attempt_at,
                    lastAttemptAt=r.last_attempt_at,
                    lastStatusCode=r.last_status_code,
                    lastError=r.last_error,
                    deliveredAt=r.delivered_at,
                )
                for r in page
            ],
            links=links,
        )

    @router.post(
        "/subscriptions/{subscriptionId}/replays",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=ReplayRead,
        responses=NOT_FOUND,
        summary="Send dead-lettered deliveries again (all, or those of the given event ids)",
    )
    async def replay(row: OwnedDep, session: SessionDep, body: ReplayCreate | None = None) -> ReplayRead:
        d = models.delivery
        statement = (
            update(d)
            .where(d.subscription_id == row.id, d.status == DEAD_LETTERED)
            .values(status=PENDING, attempts=0, next_attempt_at=datetime.now(UTC))
        )
        if body is not None and body.event_ids is not None:
            statement = statement.where(d.event_id.in_(body.event_ids))
        result = await session.execute(statement)
        return ReplayRead(replayed=int(result.rowcount))  # type: ignore[attr-defined]

    return router
