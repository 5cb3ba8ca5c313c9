from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.db import request_session
from services.registry.config import RegistrySettings
from services.registry.crypto import BsnVault

SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]


async def get_vault(request: Request) -> BsnVault:
    vault: BsnVault = request.app.state.vault
    return vault


async def get_settings(request: Request) -> RegistrySettings:
    settings: RegistrySettings = request.app.state.settings
    return settings


VaultDep = Annotated[BsnVault, Depends(get_vault)]
SettingsDep = Annotated[RegistrySettings, Depends(get_settings)]
