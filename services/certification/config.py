from pydantic_settings import SettingsConfigDict

from lmx_common.disclosure import DisclosureSettings
from lmx_common.events import EventSettings
from lmx_common.settings import ServiceSettings
from lmx_common.version import API_VERSION

VERSION = API_VERSION  # one version for all four components (lmx_common/version.py)


class CertificationSettings(EventSettings, DisclosureSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CERTIFICATION_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///var/certification.db"
    # How often the scheduled job turns granted certificates past their last day into expired.
    expiry_interval_seconds: float = 3600.0
