from pydantic_settings import SettingsConfigDict

from lmx_common.disclosure import DisclosureSettings
from lmx_common.settings import ServiceSettings
from lmx_common.version import API_VERSION

VERSION = API_VERSION  # one version for all four components (lmx_common/version.py)


class HousingSettings(DisclosureSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOUSING_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///var/housing.db"
    # The housing service's own client at the gateway (statistics, certification events).
    gateway_url: str = "http://127.0.0.1:8000"
    client_id: str = "housing-service"
    client_secret: str | None = None
    # Calls to other services through the gateway: kept well below the gateway's own read timeout
    # for housing, so a slow registry turns into a stale report rather than a gateway 504.
    upstream_connect_timeout_seconds: float = 2.0
    upstream_read_timeout_seconds: float = 5.0
    # Renew the access token this many seconds before it expires.
    token_refresh_margin_seconds: float = 30.0
    # Certification events: how often the feed is polled (0 = no consumer), events per page.
    event_poll_seconds: float = 2.0
    event_page_size: int = 100
    # Certificate schemes whose suspension, revocation or expiry puts the holder's locations at risk.
    at_risk_schemes: tuple[str, ...] = ("snf-housing", "wtta-admission")
