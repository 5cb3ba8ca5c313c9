from fastapi import APIRouter, Depends
from sqlalchemy import select

from lmx_common.auth import current_principal
from services.certification.dependencies import SessionDep
from services.certification.models import Scheme
from services.certification.schemas import SchemeList, SchemeRead

router = APIRouter(prefix="/v1", dependencies=[Depends(current_principal)])


@router.get("/schemes", response_model=SchemeList, tags=["reference"], summary="Certification schemes")
async def list_schemes(session: SessionDep) -> SchemeList:
    rows = (await session.execute(select(Scheme).order_by(Scheme.code))).scalars()
    return SchemeList(items=[SchemeRead.model_validate(r) for r in rows])
