"""Webhook callbacks cannot reach internal addresses (issue 14): refused at subscription (400 listing
callbackUrl), refused again just before every connection (DNS rebinding), and ``lastError`` says only
"delivery failed" and a class, never what answered or which exception it was.

The service here runs without the development allow-list (the stack's certification service allows
127.0.0.1 for the other tests' receivers), on a database of its own.
"""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lmx_common.db import Database
from lmx_common.events import publish
from lmx_common.events.callbacks import CallbackPolicy, system_resolver, webhook_client
from lmx_common.events.delivery import DeliveryWorker
from lmx_common.events.settings import EventSettings
from lmx_common.events.subscriptions import new_secret
from lmx_common.migrations import upgrade
from services.certification.config import CertificationSettings
from services.certification.events import EVENTS
from services.certification.main import create_app as create_certification
from tests.conftest import assert_problem
from tests.support.certification import Api
from tests.support.db import rows
from tests.support.servers import free_port, garbage_server, serve
from tests.support.stack import FAST_EVENTS
from tests.support.webhooks import eventually, receiver

# The service under test is on SQLite of its own; the stack only issues the tokens.
pytestmark = pytest.mark.one_backend

PUBLIC = "93.184.216.34"
LOOPBACK = ipaddress.ip_network("127.0.0.1/32")
NAMES = {
    "hooks.public.test": [PUBLIC],
    "internal.corp.test": ["10.20.30.40"],
    "metadata.corp.test": ["169.254.169.254"],
    "half.corp.test": [PUBLIC, "192.168.1.10"],  # one internal address among public ones is enough
    "loopback6.corp.test": ["::1"],
}


async def fake_resolver(host: str, port: int) -> list[str]:
    """Names of this file as listed; anything else (numbers, localhost) as the system resolves it."""
    if host in NAMES:
        return NAMES[host]
    return await system_resolver(host, port)


@pytest.fixture(scope="module")
def strict(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A certification service without an allow-list, its name lookups through ``fake_resolver``."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('strict')}/certification.db"
    upgrade("certification", url)
    fast = {k: v for k, v in FAST_EVENTS.items() if k != "webhook_allowed_hosts"}
    settings = CertificationSettings(
        database_url=url,
        jwks_url=stack.gateway + "/.well-known/jwks.json",
        token_issuer=stack.gateway_settings.issuer,
        **fast,
    )
    app = create_certification(settings)
    app.state.callback_policy = CallbackPolicy.from_settings(settings, resolver=fake_resolver)
    with serve(app) as base:
        yield {"base": base, "database_url": url}


@pytest.fixture
async def client(stack: Any, http: Any, strict: dict[str, str]) -> Api:
    token = await stack.client_token(http, scopes=("events:read",))
    return Api(http, strict["base"], token)


def _internal_urls(service_port: int) -> list[str]:
    return [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        f"http://127.0.0.1:{service_port}/v1/subscriptions",
        f"http://localhost:{service_port}/",
        f"http://LOCALHOST.:{service_port}/",
        f"http://[::1]:{service_port}/",
        f"http://0.0.0.0:{service_port}/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.0.1/",
        "http://100.64.0.1/",  # shared address space (carrier-grade NAT)
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
        "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, mapped, in hex
        "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://224.0.0.1/",
        "http://internal.corp.test/",
        "http://metadata.corp.test/latest/meta-data/",
        "http://half.corp.test/",
        "http://loopback6.corp.test/",
        "http://does-not-resolve.invalid/",
        "http://:@127.0.0.1/",  # empty credentials slipped through the old check
        "http://hooks.public.test/a\r\nX-Injected: 1",
        "http://hooks.public.test/a\nb",
        "http://hooks.public.test/a b",
        "http://hooks.public.test/\x00",
        "http://hooks.public.test\t/",
    ]


@pytest.mark.parametrize("index", range(len(_internal_urls(1))))
async def test_a_callback_url_to_an_internal_address_is_refused(client: Api, strict: dict[str, str], index: int):
    service_port = int(strict["base"].rsplit(":", 1)[1])
    url = _internal_urls(service_port)[index]
    response = await client.post("/v1/subscriptions", {"callbackUrl": url, "eventTypes": ["report.created"]})
    body = assert_problem(response, 400, "invalid-input")
    assert [p["name"] for p in body["invalidParams"]] == ["callbackUrl"], url


async def test_unresolvable_and_internal_names_get_the_same_answer(client: Api):
    """No oracle of the internal DNS: both are "not public"; nothing says which."""
    answers = []
    for url in ("http://internal.corp.test/", "http://does-not-resolve.invalid/"):
        response = await client.post("/v1/subscriptions", {"callbackUrl": url, "eventTypes": ["report.created"]})
        answers.append(assert_problem(response, 400)["invalidParams"])
    assert answers[0] == answers[1]
    assert "10.20.30.40" not in str(answers[0])


async def test_a_public_callback_url_is_accepted(client: Api):
    """The control: the same service accepts a name that resolves to a public address."""
    response = await client.post(
        "/v1/subscriptions", {"callbackUrl": "http://hooks.public.test/hook", "eventTypes": ["report.created"]}
    )
    assert response.status_code == 201, response.text


async def _subscription_with_event(database_url: str, callback_url: str) -> str:
    """A subscription written straight to the database (as one made before these checks, or whose
    name resolved publicly when it was made), and an event for it. Returns the subscription id."""
    database = Database(database_url)
    subscription_id = str(uuid.uuid4())
    try:
        async with database.sessionmaker() as session, session.begin():
            session.add(
                EVENTS.subscription(
                    id=subscription_id,
                    client_id="ssrf-test",
                    organisation_oin="00000099000000000001",
                    callback_url=callback_url,
                    event_types=["report.created"],
                    secret=new_secret(),
                    created_at=datetime.now(UTC) - timedelta(seconds=1),
                )
            )
            await publish(
                session,
                EVENTS,
                type="report.created",
                subject="reports/x",
                data={"reportId": subscription_id, "kvkNumber": "12345678", "municipalityCode": "GM1655"},
            )
    finally:
        await database.dispose()
    return subscription_id


async def _delivery(database_url: str, subscription_id: str) -> dict[str, Any]:
    [row] = await rows(database_url, "SELECT * FROM event_deliveries WHERE subscription_id = :s", s=subscription_id)
    return row


async def test_the_worker_does_not_post_to_a_name_that_now_resolves_to_loopback(strict: dict[str, str]):
    """`localhost` resolves to 127.0.0.1 at delivery: the running service's worker refuses to connect."""
    with receiver() as hooks:
        port = hooks.url.rsplit(":", 1)[1]
        sid = await _subscription_with_event(strict["database_url"], f"http://localhost:{port}/hook")

        async def attempted() -> dict[str, Any] | None:
            found = await rows(
                strict["database_url"], "SELECT * FROM event_deliveries WHERE subscription_id = :s", s=sid
            )
            return found[0] if found and found[0]["attempts"] >= 1 else None

        delivery = await eventually(attempted, timeout=10)
        assert hooks.requests == []
    assert delivery["last_error"] == "delivery failed: address-not-allowed"
    assert delivery["last_status_code"] is None


# The delivery worker driven directly, with a resolver the test controls, on a database of its own.


class FlippingResolver:
    """Answers ``first`` the first time a name is looked up, ``then`` ever after (DNS rebinding)."""

    def __init__(self, first: list[str], then: list[str]) -> None:
        self.answers = [first, then]
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers[min(len(self.calls) - 1, 1)]


@pytest.fixture
async def own_database(tmp_path: Path) -> AsyncIterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path}/certification.db"
    upgrade("certification", url)
    yield url


async def _attempt(database_url: str, policy: CallbackPolicy, **settings: Any) -> None:
    database = Database(database_url)
    values: dict[str, Any] = {"webhook_timeout_seconds": 2.0} | settings
    try:
        async with webhook_client(policy) as http:
            await DeliveryWorker(database, EVENTS, EventSettings(**values), http).run_once()
    finally:
        await database.dispose()


async def test_a_name_public_at_subscription_and_internal_at_delivery_is_not_posted_to(own_database: str):
    resolver = FlippingResolver(first=[PUBLIC], then=["127.0.0.1"])
    policy = CallbackPolicy(resolver=resolver)
    with receiver() as hooks:
        port = hooks.url.rsplit(":", 1)[1]
        url = f"http://hooks.rebind.test:{port}/hook"
        assert await policy.problem(url) is None  # the check at subscription time passes
        sid = await _subscription_with_event(own_database, url)
        await _attempt(own_database, policy)
        assert hooks.requests == []
    assert resolver.calls == ["hooks.rebind.test", "hooks.rebind.test"]  # looked up again to connect
    delivery = await _delivery(own_database, sid)
    assert delivery["last_error"] == "delivery failed: address-not-allowed" and delivery["status"] == "pending"


async def test_the_connection_goes_to_the_checked_address_with_the_urls_host_header(own_database: str):
    """Pinning: the worker connects to the address it checked (the system cannot resolve this name)
    and still sends the URL's host name as Host."""
    resolver = FlippingResolver(first=["127.0.0.1"], then=["127.0.0.1"])
    policy = CallbackPolicy(resolver=resolver, allowed_networks=(LOOPBACK,))
    with receiver() as hooks:
        port = hooks.url.rsplit(":", 1)[1]
        sid = await _subscription_with_event(own_database, f"http://hooks.pinned.test:{port}/hook")
        await _attempt(own_database, policy)
        [request] = hooks.requests
    assert request.headers["host"] == f"hooks.pinned.test:{port}"
    assert (await _delivery(own_database, sid))["status"] == "delivered"


async def test_redirects_are_not_followed(own_database: str):
    """A public receiver may answer 3xx to an internal address: the worker does not follow it."""
    followed: list[str] = []

    async def redirecting(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        followed.append(scope["path"])
        location = b"/internal" if scope["path"] == "/hook" else b"/again"
        await send({"type": "http.response.start", "status": 307, "headers": [(b"location", location)]})
        await send({"type": "http.response.body", "body": b""})

    policy = CallbackPolicy(allowed_networks=(LOOPBACK,))
    with serve(redirecting) as base:
        sid = await _subscription_with_event(own_database, base + "/hook")
        await _attempt(own_database, policy)
    assert followed == ["/hook"]
    assert (await _delivery(own_database, sid))["last_error"] == "delivery failed: http-307"


@contextmanager
def _silent_server() -> Iterator[str]:
    """Accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def _receiver_503() -> Iterator[str]:
    with receiver(status=503) as hooks:
        yield hooks.url


def _closed() -> Iterator[str]:
    yield f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (_receiver_503, "delivery failed: http-503"),
        (contextmanager(_closed), "delivery failed: refused"),
        (_silent_server, "delivery failed: timeout"),
        (garbage_server, "delivery failed: bad-response"),
    ],
    ids=["http-status", "refused", "timeout", "bad-response"],
)
async def test_last_error_says_delivery_failed_and_a_class_only(own_database: str, server: Any, expected: str):
    policy = CallbackPolicy(allowed_networks=(LOOPBACK,))
    with ExitStack() as exits:
        base = exits.enter_context(server())
        sid = await _subscription_with_event(own_database, base + "/hook")
        await _attempt(own_database, policy, webhook_timeout_seconds=0.5)
    assert (await _delivery(own_database, sid))["last_error"] == expected
