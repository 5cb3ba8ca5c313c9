from pydantic import BaseModel, ConfigDict, Field


class SchemeRead(BaseModel):
    """A certification scheme."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    code: str = Field(examples=["wtta-admission"])
    name: str
    owner: str
    subject_kind: str = Field(alias="subjectKind", examples=["employment-agency"])
    permits: str


class SchemeList(BaseModel):
    items: list[SchemeRead]
