from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.db import request_session

SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]
