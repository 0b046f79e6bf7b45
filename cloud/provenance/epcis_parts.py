"""The parts EPCIS 2.0 events and documents are built of, as typed pydantic models.

Members carry the standard's JSON names (``bizTransaction``, ``deviceID``) as aliases.
Three kinds of objects, as the official schema has them:

* closed (:class:`ClosedModel`): only the listed members (quantity elements, business
  transactions, sources and destinations, persistent dispositions);
* extensible (:class:`ExtensibleModel`): the listed members plus extension members named by a
  URI or a prefixed name (``example:temperatureLog``), holding any JSON value;
* open (:class:`OpenModel`): any other member (read points, master data, the body of a
  document).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, model_validator
from pydantic.alias_generators import to_camel

from cloud.provenance.epcis_formats import is_uri
from cloud.provenance.epcis_types import (
    AttributeValue,
    BizTransactionType,
    Boolean,
    Component,
    Disposition,
    ErrorReason,
    HexBinary,
    MeasurementType,
    Number,
    Opt,
    SensorAlertType,
    SourceDestType,
    String,
    Time,
    Uom,
    Uri,
    describe,
    refuse,
    unique,
)

__all__ = [
    "Attribute",
    "BizLocation",
    "BizTransaction",
    "ClosedModel",
    "Destination",
    "EpcisHeader",
    "EpcisMasterData",
    "ErrorDeclaration",
    "ExtensibleModel",
    "ExtensionName",
    "OpenModel",
    "PersistentDisposition",
    "QuantityElement",
    "ReadPoint",
    "SensorElement",
    "SensorMetadata",
    "SensorReport",
    "Source",
    "UniqueUris",
    "Vocabulary",
    "VocabularyElement",
]


def _extension_name(name: str) -> str:
    if is_uri(name):
        return name
    raise refuse(
        "member",
        f"{describe(name)} is not a member defined here; an extension member is named by a "
        "URI or a prefixed name such as 'example:myField'",
    )


ExtensionName = Annotated[str, PlainValidator(_extension_name)]
UniqueUris = Annotated[list[Uri], AfterValidator(unique)]

_CONFIG = ConfigDict(
    strict=True,  # JSON types as they are: no "5" for 5, no 1 for true
    frozen=True,
    alias_generator=to_camel,
    validate_by_alias=True,
    validate_by_name=False,  # "event_time" is not "eventTime"
    serialize_by_alias=True,
)


class OpenModel(BaseModel):
    model_config = ConfigDict(**_CONFIG, extra="allow")


class ExtensibleModel(BaseModel):
    model_config = ConfigDict(**_CONFIG, extra="allow")
    __pydantic_extra__: dict[ExtensionName, Any] = Field(init=False)


class ClosedModel(BaseModel):
    model_config = ConfigDict(**_CONFIG, extra="forbid")


class QuantityElement(ClosedModel):
    epc_class: Uri
    quantity: Opt[Number] = None
    uom: Opt[Uom] = None


_Dispositions = Annotated[list[Disposition], Field(min_length=1), AfterValidator(unique)]


class PersistentDisposition(ClosedModel):
    set: Opt[_Dispositions] = None
    unset: Opt[_Dispositions] = None

    @model_validator(mode="after")
    def _set_or_unset(self) -> PersistentDisposition:
        if self.set is None and self.unset is None:
            raise refuse("persistent_disposition", "expected 'set', 'unset' or both")
        return self


class BizTransaction(ClosedModel):
    type: Opt[BizTransactionType] = None
    biz_transaction: Uri


class Source(ClosedModel):
    type: SourceDestType
    source: Uri


class Destination(ClosedModel):
    type: SourceDestType
    destination: Uri


class ReadPoint(OpenModel):
    id: Uri


class BizLocation(OpenModel):
    id: Uri


class ErrorDeclaration(ExtensibleModel):
    declaration_time: Time
    reason: Opt[ErrorReason] = None
    corrective_event_ids: Opt[list[Uri]] = Field(None, alias="correctiveEventIDs")


class SensorMetadata(ExtensibleModel):
    time: Opt[Time] = None
    device_id: Opt[Uri] = Field(None, alias="deviceID")
    device_metadata: Opt[Uri] = None
    raw_data: Opt[Uri] = None
    start_time: Opt[Time] = None
    end_time: Opt[Time] = None
    data_processing_method: Opt[Uri] = None
    biz_rules: Opt[Uri] = None


class SensorReport(ExtensibleModel):
    type: MeasurementType
    exception: Opt[SensorAlertType] = None
    device_id: Opt[Uri] = Field(None, alias="deviceID")
    device_metadata: Opt[Uri] = None
    raw_data: Opt[Uri] = None
    data_processing_method: Opt[Uri] = None
    biz_rules: Opt[Uri] = None
    time: Opt[Time] = None
    microorganism: Opt[Uri] = None
    chemical_substance: Opt[Uri] = None
    coordinate_reference_system: Opt[Uri] = None
    value: Opt[Number] = None
    component: Opt[Component] = None
    string_value: Opt[String] = None
    boolean_value: Opt[Boolean] = None
    hex_binary_value: Opt[HexBinary] = None
    uri_value: Opt[Uri] = None
    min_value: Opt[Number] = None
    max_value: Opt[Number] = None
    mean_value: Opt[Number] = None
    s_dev: Opt[Number] = None
    perc_rank: Opt[Number] = None
    perc_value: Opt[Number] = None
    uom: Opt[String] = None  # any unit code here, unlike a quantity element's


class SensorElement(ExtensibleModel):
    sensor_metadata: Opt[SensorMetadata] = None
    sensor_report: Annotated[list[SensorReport], Field(min_length=1)]


class Attribute(OpenModel):
    id: Uri
    attribute: Opt[AttributeValue] = None


class VocabularyElement(OpenModel):
    id: Uri
    attributes: Opt[list[Attribute]] = None
    children: Opt[list[Uri]] = None


class Vocabulary(OpenModel):
    type: Uri
    vocabulary_element_list: Opt[list[VocabularyElement]] = None


class EpcisMasterData(OpenModel):
    vocabulary_list: Opt[list[Vocabulary]] = None


class EpcisHeader(ExtensibleModel):
    epcis_master_data: Opt[EpcisMasterData] = None
