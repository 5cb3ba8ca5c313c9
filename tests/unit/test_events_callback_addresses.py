"""The callback address rules without a service: which addresses are public, which URL forms are
refused before any lookup, the allow-list, and the words a subscriber sees for a failed delivery."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from lmx_common.events.callbacks import NOT_PUBLIC, AddressNotAllowed, CallbackPolicy, Resolver, is_public
from lmx_common.events.delivery import failure
from lmx_common.events.settings import EventSettings

NOT_GLOBAL = [
    "127.0.0.1",
    "127.255.0.9",
    "0.0.0.0",  # noqa: S104 - an address to refuse, not to bind
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "192.0.2.1",
    "198.18.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "2001:db8::1",
    "fe80::1%eth0",
]
GLOBAL = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34", "2002:5db8:d822::"]


@pytest.mark.parametrize("address", NOT_GLOBAL)
def test_internal_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", GLOBAL)
def test_global_unicast_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://example.nl/a\r\nX-Injected: 1",
        "http://example.nl/\n",
        "http://example.nl/a b",
        " http://example.nl/",
        "http://exa\tmple.nl/",
        "http://example.nl/\x7f",
        "http://example.nl/\u200b",
        "http://user:pass@example.nl/",
        "http://:@example.nl/",
        "http://@example.nl/",
        "http://example.nl/#frag",
        "ftp://example.nl/",
        "http:///path",
        "http://example.nl:99999/",
        "http://example.nl:0/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0x7f.1/",
    ],
)
def test_bad_forms_are_refused_before_any_lookup(url: str) -> None:
    assert CallbackPolicy().form_problem(url) is not None


def test_https_only_when_required() -> None:
    assert CallbackPolicy(require_https=True).form_problem("http://example.nl/") is not None
    assert CallbackPolicy(require_https=True).form_problem("https://example.nl/") is None
    assert CallbackPolicy().form_problem("http://example.nl/") is None


def _resolver(table: dict[str, list[str]]) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such name")
        return table[host]

    return resolve


TABLE = {
    "hooks.example.nl": ["93.184.216.34", "2606:2800:220:1::1"],
    "sneaky.example.nl": ["93.184.216.34", "127.0.0.1"],
    "receiver": ["172.18.0.5"],
}


async def test_every_resolved_address_must_be_public() -> None:
    policy = CallbackPolicy(resolver=_resolver(TABLE))
    assert await policy.problem("https://hooks.example.nl/x") is None
    assert await policy.problem("https://sneaky.example.nl/x") == NOT_PUBLIC
    assert await policy.problem("https://receiver/x") == NOT_PUBLIC
    assert await policy.problem("https://nowhere.example.nl/x") == NOT_PUBLIC
    with pytest.raises(AddressNotAllowed):
        await policy.addresses("sneaky.example.nl", 443)


async def test_the_system_resolver_normalises_localhost_to_loopback() -> None:
    assert await CallbackPolicy().problem("http://localhost:8002/") == NOT_PUBLIC


async def test_the_allow_list_takes_names_addresses_and_networks() -> None:
    settings = EventSettings(webhook_allowed_hosts=("Receiver", "127.0.0.1", "10.0.0.0/8"))
    policy = CallbackPolicy.from_settings(settings, resolver=_resolver(TABLE))
    assert policy.allowed_names == frozenset({"receiver"})
    assert await policy.problem("http://receiver:8080/hook") is None
    assert await policy.problem("http://127.0.0.1:9000/hook") is None
    assert await policy.problem("http://10.9.8.7/hook") is None
    assert await policy.problem("http://[::ffff:10.9.8.7]/hook") is None
    assert await policy.problem("http://192.168.0.1/hook") == NOT_PUBLIC
    assert await policy.problem("http://127.0.0.2/hook") == NOT_PUBLIC


def test_the_allow_list_is_empty_by_default_and_comma_separated_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert EventSettings().webhook_allowed_hosts == ()
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1, receiver")
    assert EventSettings().webhook_allowed_hosts == ("127.0.0.1", "receiver")


def test_production_requires_https() -> None:
    class Production(EventSettings):
        environment: str = "production"

    assert CallbackPolicy.from_settings(Production()).require_https


def test_failures_name_a_class_not_an_exception() -> None:
    request = httpx.Request("POST", "https://hooks.example.nl/")
    assert failure(503) == "delivery failed: http-503"
    assert failure(httpx.ConnectError("[Errno 111] Connection refused", request=request)) == "delivery failed: refused"
    assert failure(httpx.ReadTimeout("timed out", request=request)) == "delivery failed: timeout"
    assert failure(httpx.RemoteProtocolError("illegal status line", request=request)) == (
        "delivery failed: bad-response"
    )
    assert failure(AddressNotAllowed("x resolves to 10.0.0.1")) == "delivery failed: address-not-allowed"
