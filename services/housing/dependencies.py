from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import Principal, require_scopes
from lmx_common.db import request_session
from lmx_common.scopes import Scope
from services.housing.clients import GatewayClient
from services.housing.config import HousingSettings

SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]


def get_settings(request: Request) -> HousingSettings:
    settings: HousingSettings = request.app.state.settings
    return settings


def get_gateway(request: Request) -> GatewayClient:
    gateway: GatewayClient = request.app.state.gateway
    return gateway


SettingsDep = Annotated[HousingSettings, Depends(get_settings)]
GatewayDep = Annotated[GatewayClient, Depends(get_gateway)]
Reader = Annotated[Principal, Depends(require_scopes(Scope.HOUSING_READ))]
Writer = Annotated[Principal, Depends(require_scopes(Scope.HOUSING_WRITE))]
FairShareReader = Annotated[Principal, Depends(require_scopes(Scope.FAIR_SHARE_READ))]
