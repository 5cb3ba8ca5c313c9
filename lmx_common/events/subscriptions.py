"""Webhook subscriptions: create, list, read, delete, delivery list, and replay of dead letters."""

import base64
import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from lmx_common.events import store
from lmx_common.events.callbacks import CallbackPolicy
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
from lmx_common.events.settings import EventSettings
from lmx_common.events.tables import (
    DEAD_LETTERED,
    DELIVERED,
    DELIVERY_STATUSES,
    PENDING,
    EventModels,
    SubscriptionColumns,
)
from lmx_common.pagination import cut_page
from lmx_common.problems import InvalidParam, ProblemError, invalid_input, problem_openapi_response

__all__ = ["DEAD_LETTERED", "DELIVERED", "DELIVERY_STATUSES", "PENDING", "subscriptions_router"]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: problem_openapi_response("No such subscription of this client.")}


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def validate_subscription(body: SubscriptionCreate, models: EventModels, policy: CallbackPolicy) -> None:
    """Every invalid field at once, as a 400. The callback URL's host is resolved (callbacks.py)."""
    params: list[InvalidParam] = []
    reason = await policy.problem(body.callback_url)
    if reason is not None:
        params.append(InvalidParam("callbackUrl", reason, "url", "body"))
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


def _read(row: SubscriptionColumns, state: DeliveryState) -> dict[str, Any]:
    return {
        "id": row.id,
        "callbackUrl": row.callback_url,
        "eventTypes": list(row.event_types),
        "createdAt": row.created_at,
        "deliveryState": state,
    }


def callback_policy(request: Request, require_https: bool) -> CallbackPolicy:
    """The app's callback policy: ``app.state.callback_policy`` when set (tests inject one with
    their own resolver), else made once from the service's settings (``app.state.settings``)."""
    policy: CallbackPolicy | None = getattr(request.app.state, "callback_policy", None)
    if policy is None:
        settings = getattr(request.app.state, "settings", None)
        if isinstance(settings, EventSettings):
            policy = CallbackPolicy.from_settings(settings, require_https=require_https)
        else:
            policy = CallbackPolicy(require_https=require_https)
        request.app.state.callback_policy = policy
    return policy


def subscriptions_router(models: EventModels, *, require_https: bool = False) -> APIRouter:
    """Webhook subscriptions of one service; each client sees and manages only its own."""
    router = APIRouter(prefix="/v1", tags=["events"])
    sub = models.subscription

    async def owned_subscription(
        caller: EventReaderDep,
        session: SessionDep,
        subscription_id: Annotated[
            str, Path(description="The subscription's id.", alias="subscriptionId", max_length=36)
        ],
    ) -> SubscriptionColumns:
        row = await store.owned_subscription(session, models, subscription_id, caller.client_id)
        if row is None:
            raise ProblemError(404, "No such subscription.", slug="not-found")
        return row

    OwnedDep = Annotated[SubscriptionColumns, Depends(owned_subscription)]

    @router.post(
        "/subscriptions",
        status_code=status.HTTP_201_CREATED,
        response_model=SubscriptionCreated,
        summary="Subscribe a webhook to event types; the signing secret is returned once",
        description=(
            "The webhook receives the events of these types that the caller would receive in the feed "
            "(`GET /v1/events`): an event with an audience only when the caller's organisation is in it, "
            "as it was when it subscribed. A subscription by a client outside every audience is accepted "
            "and receives none of those events."
        ),
    )
    async def create_subscription(
        body: SubscriptionCreate, caller: EventReaderDep, session: SessionDep, request: Request, response: Response
    ) -> dict[str, Any]:
        await validate_subscription(body, models, callback_policy(request, require_https))
        row = sub(
            id=str(uuid.uuid4()),
            client_id=caller.client_id,
            organisation_oin=caller.organisation_oin,
            callback_url=body.callback_url,
            event_types=sorted(set(body.event_types)),
            parties=list(models.parties(caller)),
            secret=new_secret(),
            created_at=datetime.now(UTC),
        )
        await store.add_subscription(session, row)
        prefix = request.headers.get("x-forwarded-prefix", "")
        response.headers["Location"] = f"{prefix}/v1/subscriptions/{row.id}"
        return _read(row, store.empty_state()) | {"secret": row.secret}

    @router.get("/subscriptions", response_model=SubscriptionList, summary="The caller's subscriptions")
    async def list_subscriptions(caller: EventReaderDep, session: SessionDep) -> dict[str, Any]:
        rows = await store.client_subscriptions(session, models, caller.client_id)
        states = await store.delivery_states(session, models, [r.id for r in rows])
        return {"items": [_read(r, states[r.id]) for r in rows]}

    @router.get(
        "/subscriptions/{subscriptionId}",
        response_model=SubscriptionRead,
        responses=NOT_FOUND,
        summary="One subscription with its delivery state",
    )
    async def read_subscription(row: OwnedDep, session: SessionDep) -> dict[str, Any]:
        state = (await store.delivery_states(session, models, [row.id]))[row.id]
        return _read(row, state)

    @router.delete(
        "/subscriptions/{subscriptionId}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=NOT_FOUND,
        summary="Unsubscribe; pending deliveries are dropped",
    )
    async def delete_subscription(row: OwnedDep, session: SessionDep) -> Response:
        await store.delete_subscription(session, models, row.id)
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
            str | None,
            Query(
                description="Only deliveries in this state.",
                alias="status",
                pattern="^(pending|delivered|dead-lettered)$",
            ),
        ] = None,
        cursor: Annotated[
            str | None,
            Query(description="Where the page starts (from the previous page's next link); absent: the first."),
        ] = None,
        page_size: Annotated[
            int,
            Query(description="How many items per page (at most the maximum shown).", alias="pageSize", ge=1, le=500),
        ] = 100,
    ) -> DeliveryList:
        after = decode_position(cursor, "cursor")
        rows = await store.deliveries_page(
            session, models, row.id, after=after, status=delivery_status, limit=page_size + 1
        )
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
        operation_id="replayDeliveries",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=ReplayRead,
        responses=NOT_FOUND,
        summary="Send dead-lettered deliveries again (all, or those of the given event ids)",
    )
    async def replay(row: OwnedDep, session: SessionDep, body: ReplayCreate | None = None) -> ReplayRead:
        event_ids = body.event_ids if body is not None else None
        return ReplayRead(replayed=await store.replay_dead_letters(session, models, row.id, event_ids))

    return router
