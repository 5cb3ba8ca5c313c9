from pydantic import BaseModel, ConfigDict, Field

from lmx_common.pagination import Page


class MunicipalityRead(BaseModel):
    """A municipality of the CBS list in force."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    code: str = Field(examples=["GM1655"])
    name: str = Field(examples=["Halderberge"])
    province_code: str = Field(alias="provinceCode", examples=["PV30"])
    province_name: str = Field(alias="provinceName", examples=["Noord-Brabant"])


class MunicipalityPage(Page[MunicipalityRead]):
    """A page of municipalities."""
