from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from lmx_common.auth import current_principal
from lmx_common.problems import ProblemError, problem_openapi_response
from services.housing import repository
from services.housing.dependencies import SessionDep
from services.housing.schemas import RegionList, RegionRead

router = APIRouter(prefix="/v1", dependencies=[Depends(current_principal)])


@router.get("/regions", response_model=RegionList, tags=["regions"], summary="Regions and provinces")
async def list_regions(
    session: SessionDep, kind: Annotated[Literal["region", "province"] | None, Query()] = None
) -> RegionList:
    rows = await repository.regions_with_members(session, kind=kind)
    return RegionList(items=[RegionRead(code=r.code, name=r.name, kind=r.kind, municipality_codes=m) for r, m in rows])


@router.get(
    "/regions/{code}",
    response_model=RegionRead,
    tags=["regions"],
    summary="One region",
    responses={404: problem_openapi_response("Unknown region.")},
)
async def get_region(
    session: SessionDep, code: Annotated[str, Path(pattern=r"^[a-z0-9-]{2,50}$|^PV\d{2}$")]
) -> RegionRead:
    rows = await repository.regions_with_members(session, code=code)
    if not rows:
        raise ProblemError(404, f"No region {code}.", slug="not-found")
    region, members = rows[0]
    return RegionRead(code=region.code, name=region.name, kind=region.kind, municipality_codes=members)
