from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from lmx_common.auth import current_principal
from lmx_common.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_cursor, encode_cursor, page_links
from lmx_common.problems import ProblemError, problem_openapi_response
from services.registry import repository
from services.registry.dependencies import SessionDep
from services.registry.schemas import MunicipalityPage, MunicipalityRead

router = APIRouter(prefix="/v1", dependencies=[Depends(current_principal)])


@router.get(
    "/municipalities",
    response_model=MunicipalityPage,
    response_model_by_alias=True,
    tags=["reference"],
    summary="Municipalities of the reference list in force",
)
async def list_municipalities(
    request: Request,
    session: SessionDep,
    province_code: Annotated[str | None, Query(alias="provinceCode", pattern=r"^PV\d{2}$")] = None,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query()] = None,
) -> MunicipalityPage:
    after = decode_cursor(cursor, {"code"})["code"] if cursor else None
    rows = await repository.list_municipalities(session, province_code, after, page_size + 1)
    items = [MunicipalityRead.model_validate(r) for r in rows[:page_size]]
    next_cursor = encode_cursor({"code": items[-1].code}) if len(rows) > page_size else None
    return MunicipalityPage(items=items, links=page_links(request, next_cursor))


@router.get(
    "/municipalities/{code}",
    response_model=MunicipalityRead,
    tags=["reference"],
    summary="One municipality",
    responses={404: problem_openapi_response("Unknown code.")},
)
async def get_municipality(session: SessionDep, code: Annotated[str, Path(pattern=r"^GM\d{4}$")]) -> MunicipalityRead:
    municipality = await repository.get_municipality(session, code)
    if municipality is None:
        raise ProblemError(404, f"No municipality {code} in the current list.", slug="not-found")
    return MunicipalityRead.model_validate(municipality)
