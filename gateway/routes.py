"""Which scopes each proxied route and method needs. First match wins; no match is a 404."""

from __future__ import annotations

import re
from dataclasses import dataclass

READ = frozenset({"GET", "HEAD"})
WRITE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ANY = READ | WRITE | {"OPTIONS"}
PUBLIC: tuple[str, ...] = ()
AUTHENTICATED: tuple[str, ...] = ("*",)  # any valid token


@dataclass(frozen=True)
class RouteRule:
    service: str
    pattern: re.Pattern[str]
    methods: frozenset[str]
    any_of_scopes: tuple[str, ...]  # () = public; ("*",) = any valid token

    @property
    def public(self) -> bool:
        return not self.any_of_scopes


def _rule(service: str, path: str, methods: frozenset[str], *scopes: str) -> RouteRule:
    return RouteRule(service, re.compile("^" + path + "$"), methods, tuple(scopes))


RULES: tuple[RouteRule, ...] = (
    # Published without authentication (NL GOV API Design Rules).
    _rule("registry", r"/v1/openapi\.json", READ),
    _rule("certification", r"/v1/openapi\.json", READ),
    _rule("housing", r"/v1/openapi\.json", READ),
    # Event feeds and webhook subscriptions, per service.
    _rule("registry", r"/v1/(events|subscriptions)(/.*)?", ANY, "events:read"),
    _rule("certification", r"/v1/(events|subscriptions)(/.*)?", ANY, "events:read"),
    _rule("housing", r"/v1/(events|subscriptions)(/.*)?", ANY, "events:read"),
    # Registry.
    _rule("registry", r"/v1/municipalities(/.*)?", READ, *AUTHENTICATED),
    _rule("registry", r"/v1/statistics(/.*)?", READ, "registry:statistics"),
    _rule("registry", r"/v1/processing-log(/.*)?", READ, "audit:read", "registry:read"),
    _rule("registry", r"/v1/registrations/search", frozenset({"POST"}), "registry:read"),
    _rule("registry", r"/v1/.*", READ, "registry:read"),
    _rule("registry", r"/v1/.*", WRITE, "registry:write"),
    # Certification.
    _rule("certification", r"/v1/schemes(/.*)?", READ, *AUTHENTICATED),
    _rule("certification", r"/v1/reports(/.*)?", READ, "reports:read", "reports:write"),
    _rule("certification", r"/v1/reports(/.*)?", WRITE, "reports:write"),
    _rule("certification", r"/v1/organisations/[^/]+/report-summary", READ, "certification:read", "reports:read"),
    _rule("certification", r"/v1/.*", READ, "certification:read"),
    _rule("certification", r"/v1/.*", WRITE, "certification:write"),
    # Housing.
    _rule("housing", r"/v1/regions(/.*)?", READ, *AUTHENTICATED),
    _rule("housing", r"/v1/fair-share(/.*)?", READ, "fair-share:read"),
    _rule("housing", r"/v1/.*", READ, "housing:read"),
    _rule("housing", r"/v1/.*", WRITE, "housing:write"),
)

SERVICES = ("registry", "certification", "housing")
# The rules of each service, in RULES order: a proxied call tries only its own service's rules.
_BY_SERVICE: dict[str, tuple[RouteRule, ...]] = {
    service: tuple(rule for rule in RULES if rule.service == service) for service in SERVICES
}


def match(service: str, path: str, method: str) -> RouteRule | None:
    for rule in _BY_SERVICE.get(service, ()):
        if method in rule.methods and rule.pattern.match(path):
            return rule
    return None
