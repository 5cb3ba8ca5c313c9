from pydantic import BaseModel, ConfigDict, Field


class RegionRead(BaseModel):
    """A region: a named set of municipalities."""

    model_config = ConfigDict(populate_by_name=True)

    code: str = Field(examples=["west-brabant"])
    name: str = Field(examples=["Regio West-Brabant"])
    kind: str = Field(examples=["region"])
    municipality_codes: list[str] = Field(alias="municipalityCodes")


class RegionList(BaseModel):
    items: list[RegionRead]
