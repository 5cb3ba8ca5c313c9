"""Which scopes each proxied route and method needs.

The table is generated from the services' published OpenAPI documents (``lmx routes generate``
writes ``route_table.json`` beside this module; ADR 0019): the gateway imports no service, and a
test fails when the file and the services' declarations differ. A path that matches no route of
its service is a 404; a known path with another method is a 405 with the path's methods in `Allow`.

A rule may carry ``maxBodyBytes`` per method (the largest request body the gateway accepts for
it; others get ``GATEWAY_MAX_BODY_BYTES``), copied by ``lmx routes generate`` from the
operation's ``x-max-body-bytes`` in the service's OpenAPI (the bulk import declares one).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PUBLIC = "public"
ANY_TOKEN = "any token"  # noqa: S105 - a kind of access, not a secret
AUTHENTICATED: tuple[str, ...] = ("*",)  # any valid token
SERVICES = ("registry", "certification", "housing")
TABLE_FILE = Path(__file__).resolve().parent / "route_table.json"


@dataclass(frozen=True)
class RouteRule:
    service: str
    path: str  # the OpenAPI path template
    pattern: re.Pattern[str]
    methods: frozenset[str]
    any_of_scopes: tuple[str, ...]  # () = public; ("*",) = any valid token
    max_body_bytes: int | None = None  # None: the gateway's setting

    @property
    def public(self) -> bool:
        return not self.any_of_scopes


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


def _scopes(access: str | list[str]) -> tuple[str, ...]:
    if access == PUBLIC:
        return ()
    if access == ANY_TOKEN:
        return AUTHENTICATED
    return tuple(access)


class RouteTable:
    """The rules of each service, in table order (literal paths before templated ones)."""

    def __init__(self, services: dict[str, list[dict[str, Any]]]) -> None:
        self.by_service: dict[str, tuple[RouteRule, ...]] = {}
        for service, rules in services.items():
            compiled = []
            for rule in rules:
                limits: dict[str, int] = rule.get("maxBodyBytes", {})
                grouped: dict[tuple[tuple[str, ...], int | None], set[str]] = {}
                for method, access in rule["methods"].items():
                    limit = limits.get(method)
                    grouped.setdefault((_scopes(access), int(limit) if limit is not None else None), set()).add(method)
                pattern = _pattern(rule["path"])
                compiled += [
                    RouteRule(service, rule["path"], pattern, frozenset(methods), scopes, limit)
                    for (scopes, limit), methods in grouped.items()
                ]
            self.by_service[service] = tuple(compiled)

    @classmethod
    def load(cls, path: Path = TABLE_FILE) -> RouteTable:
        return cls(json.loads(path.read_text())["services"])

    def match(self, service: str, path: str, method: str) -> RouteRule | None:
        for rule in self.by_service.get(service, ()):
            if method in rule.methods and rule.pattern.match(path):
                return rule
        return None

    def allowed(self, service: str, path: str) -> frozenset[str]:
        """Every method some rule offers for this path (empty: an unknown path). Only asked on a miss."""
        methods: set[str] = set()
        for rule in self.by_service.get(service, ()):
            if rule.pattern.match(path):
                methods |= rule.methods
        return frozenset(methods)

    @property
    def rules(self) -> tuple[RouteRule, ...]:
        return tuple(rule for rules in self.by_service.values() for rule in rules)


@functools.cache
def default_table() -> RouteTable:
    return RouteTable.load()
