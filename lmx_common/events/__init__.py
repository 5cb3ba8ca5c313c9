"""The event exchange every service uses: transactional outbox, CloudEvents feed, signed webhooks.

Wiring a service in (the certification service is the example):

1. Tables — in ``models.py`` make the four tables from the mixins, and group them::

       class OutboxEvent(OutboxColumns, Base): pass
       class FeedState(FeedStateColumns, Base): pass
       class Subscription(SubscriptionColumns, Base): pass
       class Delivery(DeliveryColumns, Base): pass

       EVENTS = EventModels(OutboxEvent, FeedState, Subscription, Delivery,
                            source="urn:lmx:<service>", event_types=("thing.created", ...))

2. Migration — in the service's own chain: ``create_event_tables()``, ``index_pending_events()``
   and ``add_event_audiences()`` in ``upgrade()``, their counterparts in ``downgrade()``
   (``from lmx_common.events.migration import ...``).

3. Publishing — in the service layer, in the same session as the change (flush only; the
   request's session commits both or neither)::

       await publish(session, EVENTS, type="thing.created", subject=f"things/{id}", data={...})

   ``data`` holds ids, codes and statuses: never personal data. An event about one person also
   gets ``audience=[...]`` (party keys, :mod:`lmx_common.events.audience`): only callers holding
   one of them receive it, in the feed and by webhook; the service says which keys a caller holds
   with ``EventModels(..., parties=...)`` (docs/decisions/0028). Without one, every caller with
   ``events:read`` receives it.

4. Routes — ``routers=[..., feed_router(EVENTS), subscriptions_router(EVENTS, require_https=...)]``:
   ``GET /v1/events?after=&limit=``, ``POST/GET /v1/subscriptions``,
   ``GET/DELETE /v1/subscriptions/{id}``, ``GET /v1/subscriptions/{id}/deliveries``,
   ``POST /v1/subscriptions/{id}/replays``. All need the ``events:read`` scope.

5. Worker — mix :class:`EventSettings` into the service's settings and, in the app's
   ``background`` context: ``async with delivery_worker(app.state.database, EVENTS, settings): ...``

Feed order (docs/decisions/0010): an event gets its feed ``position`` only after it committed,
from :func:`sequence`, which holds a lock on the feed-head row while it numbers the committed,
unnumbered events; positions therefore become visible in increasing order and a cursor (the last
position read) never skips a late-committing transaction's event.
"""

from lmx_common.events.callbacks import AddressNotAllowed, CallbackPolicy, is_public, webhook_client
from lmx_common.events.delivery import DeliveryWorker, backoff, delivery_worker, sign
from lmx_common.events.feed import feed_router
from lmx_common.events.outbox import (
    cloud_event_dict,
    cloud_event_json,
    publish,
    publish_many,
    sequence,
    sequence_pending,
)
from lmx_common.events.settings import EventSettings
from lmx_common.events.subscriptions import subscriptions_router
from lmx_common.events.tables import (
    DEAD_LETTERED,
    DELIVERED,
    PENDING,
    DeliveryColumns,
    EventModels,
    FeedStateColumns,
    OutboxColumns,
    SubscriptionColumns,
)

__all__ = [
    "DEAD_LETTERED",
    "DELIVERED",
    "PENDING",
    "AddressNotAllowed",
    "CallbackPolicy",
    "DeliveryColumns",
    "DeliveryWorker",
    "EventModels",
    "EventSettings",
    "FeedStateColumns",
    "OutboxColumns",
    "SubscriptionColumns",
    "backoff",
    "cloud_event_dict",
    "cloud_event_json",
    "delivery_worker",
    "feed_router",
    "is_public",
    "publish",
    "publish_many",
    "sequence",
    "sequence_pending",
    "sign",
    "subscriptions_router",
    "webhook_client",
]
