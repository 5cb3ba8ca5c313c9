from pydantic_settings import SettingsConfigDict

from lmx_common.settings import ServiceSettings

VERSION = "0.1.0"


class HousingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOUSING_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///var/housing.db"
    # The housing service's own client at the gateway (statistics scope only).
    gateway_url: str = "http://127.0.0.1:8000"
    client_id: str = "housing-service"
    client_secret: str | None = None
