from pydantic_settings import SettingsConfigDict

from lmx_common.settings import ServiceSettings

VERSION = "0.1.0"


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///var/registry.db"
