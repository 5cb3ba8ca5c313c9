"""Annotated dependencies: the request's session and the callers each route accepts."""

from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import Principal, require_scopes
from lmx_common.db import request_session
from lmx_common.scopes import Scope
from lmx_common.validation import KVK_NUMBER_PATTERN
from services.certification.config import CertificationSettings

SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]


def get_settings(request: Request) -> CertificationSettings:
    settings: CertificationSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[CertificationSettings, Depends(get_settings)]
ReaderDep = Annotated[Principal, Depends(require_scopes(Scope.CERTIFICATION_READ))]
WriterDep = Annotated[Principal, Depends(require_scopes(Scope.CERTIFICATION_WRITE))]
ReportReaderDep = Annotated[Principal, Depends(require_scopes(Scope.REPORTS_READ, Scope.REPORTS_WRITE))]
ReportWriterDep = Annotated[Principal, Depends(require_scopes(Scope.REPORTS_WRITE))]
SummaryReaderDep = Annotated[Principal, Depends(require_scopes(Scope.CERTIFICATION_READ, Scope.REPORTS_READ))]

KvkPath = Annotated[str, Path(alias="kvkNumber", pattern=KVK_NUMBER_PATTERN, description="KvK number, 8 digits (0-9).")]
CertificateIdPath = Annotated[str, Path(description="The certificate's id.", alias="certificateId", max_length=36)]
ReportIdPath = Annotated[str, Path(description="The abuse report's id.", alias="reportId", max_length=36)]
IfMatchHeader = Annotated[
    str | None, Header(alias="If-Match", description="The ETag you read; a stale one is refused with 412.")
]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Retry-safe creation: the same key and body answer the same 201."),
]
