"""Every OAuth scope of the exchange, with what it allows (DESIGN section 4)."""

SCOPES: dict[str, str] = {
    "registry:read": "Read registrations the caller may see (person level).",
    "registry:write": "Create and change registrations.",
    "registry:statistics": "Read registry statistics (suppressed small counts).",
    "registry:person-level": "Explicit person-level access for national and service clients.",
    "registry:statistics-exact": "Statistics without small-count suppression, for system clients that aggregate "
    "further (the housing service); they must not publish small counts themselves.",
    "certification:read": "Read organisations, certificates and status lookups.",
    "certification:write": "Record organisations and certificate status changes (certifiers).",
    "reports:write": "File abuse reports and follow-up notes.",
    "reports:read": "Read abuse report details the caller may see.",
    "housing:read": "Read housing locations, regions and at-risk lists.",
    "housing:write": "Manage the caller's own housing locations.",
    "fair-share:read": "Read fair-share reports.",
    "audit:read": "Read the processing log.",
    "events:read": "Read event feeds and manage webhook subscriptions.",
}
