"""EPCIS 2.0 events and documents as typed pydantic models: what capture accepts.

The five event types of EPCIS 2.0 (object, aggregation, transaction, transformation,
association) and extension event types (any other ``type`` that is a URI), inside an
``EPCISDocument`` or ``EPCISQueryDocument`` or standalone (then ``@context`` is required).
They accept what the official EPCIS 2.0 JSON schema accepts — no more, no less: the
conformance tests compare verdicts with the schema itself on the official examples and on
thousands of corrupted and generated variants. Rules that tie members together (an event
must say what it is about; ``ilmd`` only on ``ADD``; a transformation needs inputs and
outputs or a ``transformationID``) are model validators reported at the event's pointer.

:data:`DOCUMENT` and :data:`EVENT` are the entry points (pydantic ``TypeAdapter``): they choose
the model from ``type``, as the schema's ``if``/``then`` does.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import Discriminator, Field, Tag, TypeAdapter, model_validator

from cloud.provenance.epcis_parts import (
    BizLocation,
    BizTransaction,
    Destination,
    EpcisHeader,
    ErrorDeclaration,
    ExtensibleModel,
    ExtensionName,
    OpenModel,
    PersistentDisposition,
    QuantityElement,
    ReadPoint,
    SensorElement,
    Source,
    UniqueUris,
    Vocabulary,
)
from cloud.provenance.epcis_terms import EVENT_TYPES
from cloud.provenance.epcis_types import (
    Action,
    BizStep,
    CertificationInfo,
    Context,
    Disposition,
    EventTypeUri,
    Opt,
    String,
    Time,
    TimeZoneOffset,
    Uri,
    Version,
    describe,
    refuse,
)

__all__ = [
    "DOCUMENT",
    "DOCUMENT_TYPES",
    "EVENT",
    "TAGS",
    "AggregationEvent",
    "AssociationEvent",
    "EpcisBody",
    "EpcisDocument",
    "EpcisQueryDocument",
    "ExtendedEvent",
    "ObjectEvent",
    "QueryDocumentBody",
    "QueryResults",
    "ResultsBody",
    "TransactionEvent",
    "TransformationEvent",
]

DOCUMENT_TYPES: Final = ("EPCISDocument", "EPCISQueryDocument")
_EXTENDED = "extension event"


class _EventCommon(OpenModel):
    """What every event has (the schema's ``Event``); members beyond it are unchecked."""

    context: Opt[Context] = Field(None, alias="@context")
    event_time: Time
    record_time: Opt[Time] = None
    event_time_zone_offset: TimeZoneOffset
    event_id: Opt[Uri] = Field(None, alias="eventID")
    certification_info: Opt[CertificationInfo] = None
    error_declaration: Opt[ErrorDeclaration] = None


class ExtendedEvent(_EventCommon):
    """An event of a type of one's own: ``type`` is a URI; other members are not checked."""

    type: EventTypeUri


class _StandardEvent(_EventCommon):
    """Members of the five standard event types; extension members are named by URIs."""

    __pydantic_extra__: dict[ExtensionName, Any] = Field(init=False)
    biz_step: Opt[BizStep] = None
    disposition: Opt[Disposition] = None
    read_point: Opt[ReadPoint] = None
    biz_location: Opt[BizLocation] = None
    biz_transaction_list: Opt[list[BizTransaction]] = None
    source_list: Opt[list[Source]] = None
    destination_list: Opt[list[Destination]] = None
    sensor_element_list: Opt[list[SensorElement]] = None


_Quantities = Annotated[list[QuantityElement], Field(min_length=1)]


def _any(items: list[Any] | None) -> bool:
    return bool(items)


class ObjectEvent(_StandardEvent):
    type: Literal["ObjectEvent"]
    action: Action
    epc_list: Opt[UniqueUris] = None
    quantity_list: Opt[list[QuantityElement]] = None
    persistent_disposition: Opt[PersistentDisposition] = None
    ilmd: Opt[dict[ExtensionName, Any]] = None

    @model_validator(mode="after")
    def _what_and_ilmd(self) -> ObjectEvent:
        sensed_here = _any(self.sensor_element_list) and self.read_point is not None
        if self.epc_list is None and not _any(self.quantity_list) and not sensed_here:
            raise refuse(
                "object_event",
                "an ObjectEvent names what it is about: 'epcList', a non-empty "
                "'quantityList', or a non-empty 'sensorElementList' with a 'readPoint'",
            )
        if self.ilmd is not None and self.action != "ADD":
            got = describe(self.action)
            raise refuse("ilmd", f"'ilmd' (master data of new objects) needs action ADD, got {got}")
        return self


def _children_or_delete(event: AggregationEvent | AssociationEvent) -> None:
    if not (_any(event.child_epcs) or _any(event.child_quantity_list) or event.action == "DELETE"):
        raise refuse(
            "children",
            f"an {event.type} with action {event.action} needs a non-empty 'childEPCs' or "
            "'childQuantityList' (only DELETE may leave them out)",
        )


class AggregationEvent(_StandardEvent):
    type: Literal["AggregationEvent"]
    action: Action
    parent_id: Opt[Uri] = Field(None, alias="parentID")
    child_epcs: Opt[list[Uri]] = Field(None, alias="childEPCs")
    child_quantity_list: Opt[list[QuantityElement]] = None

    @model_validator(mode="after")
    def _children(self) -> AggregationEvent:
        _children_or_delete(self)
        return self


class AssociationEvent(_StandardEvent):
    type: Literal["AssociationEvent"]
    action: Action
    parent_id: Uri = Field(alias="parentID")
    child_epcs: Opt[list[Uri]] = Field(None, alias="childEPCs")
    child_quantity_list: Opt[list[QuantityElement]] = None

    @model_validator(mode="after")
    def _children(self) -> AssociationEvent:
        _children_or_delete(self)
        return self


class TransactionEvent(_StandardEvent):
    type: Literal["TransactionEvent"]
    action: Action
    biz_transaction_list: Annotated[list[BizTransaction], Field(min_length=1)]
    parent_id: Opt[Uri] = Field(None, alias="parentID")
    epc_list: Opt[list[Uri]] = None
    quantity_list: Opt[list[QuantityElement]] = None

    @model_validator(mode="after")
    def _what(self) -> TransactionEvent:
        if self.epc_list is None and not _any(self.quantity_list) and self.action != "DELETE":
            raise refuse(
                "transaction_event",
                f"a TransactionEvent with action {self.action} needs 'epcList' or a non-empty "
                "'quantityList' (only DELETE may leave them out)",
            )
        return self


class TransformationEvent(_StandardEvent):
    type: Literal["TransformationEvent"]
    input_epc_list: Opt[UniqueUris] = Field(None, alias="inputEPCList")
    input_quantity_list: Opt[list[QuantityElement]] = None
    output_epc_list: Opt[UniqueUris] = Field(None, alias="outputEPCList")
    output_quantity_list: Opt[list[QuantityElement]] = None
    transformation_id: Opt[Uri] = Field(None, alias="transformationID")
    persistent_disposition: Opt[PersistentDisposition] = None
    ilmd: Opt[dict[ExtensionName, Any]] = None

    @model_validator(mode="after")
    def _inputs_outputs(self) -> TransformationEvent:
        inputs = _any(self.input_epc_list) or _any(self.input_quantity_list)
        outputs = _any(self.output_epc_list) or _any(self.output_quantity_list)
        if not (inputs and outputs) and not (self.transformation_id and (inputs or outputs)):
            raise refuse(
                "transformation_event",
                "a TransformationEvent needs inputs ('inputEPCList' or 'inputQuantityList') "
                "and outputs ('outputEPCList' or 'outputQuantityList'), or a "
                "'transformationID' with at least one of them",
            )
        return self


def _event_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) and kind in EVENT_TYPES else _EXTENDED


AnyEvent = Annotated[
    Annotated[ObjectEvent, Tag("ObjectEvent")]
    | Annotated[AggregationEvent, Tag("AggregationEvent")]
    | Annotated[TransactionEvent, Tag("TransactionEvent")]
    | Annotated[TransformationEvent, Tag("TransformationEvent")]
    | Annotated[AssociationEvent, Tag("AssociationEvent")]
    | Annotated[ExtendedEvent, Tag(_EXTENDED)],
    Discriminator(_event_tag),
]


class EpcisBody(OpenModel):
    event_list: list[AnyEvent]


class EpcisDocument(ExtensibleModel):
    context: Context = Field(alias="@context")
    id: Opt[Uri] = None
    type: Literal["EPCISDocument"]
    schema_version: Version
    creation_date: Time
    instance_identifier: Opt[String] = None
    sender: Opt[String] = None
    receiver: Opt[String] = None
    epcis_header: Opt[EpcisHeader] = None
    epcis_body: EpcisBody


class ResultsBody(ExtensibleModel):
    event_list: list[AnyEvent]
    vocabulary_list: Opt[list[Vocabulary]] = None


class QueryResults(ExtensibleModel):
    query_name: String
    subscription_id: Opt[String] = Field(None, alias="subscriptionID")
    results_body: ResultsBody


class QueryDocumentBody(ExtensibleModel):
    query_results: QueryResults


class EpcisQueryDocument(ExtensibleModel):
    context: Context = Field(alias="@context")
    id: Opt[Uri] = None
    type: Literal["EPCISQueryDocument"]
    schema_version: Opt[Version] = None
    creation_date: Opt[Time] = None
    epcis_body: QueryDocumentBody


# Standalone events (at the root of a JSON document) must carry their own @context.
class StandaloneObjectEvent(ObjectEvent):
    context: Context = Field(alias="@context")


class StandaloneAggregationEvent(AggregationEvent):
    context: Context = Field(alias="@context")


class StandaloneTransactionEvent(TransactionEvent):
    context: Context = Field(alias="@context")


class StandaloneTransformationEvent(TransformationEvent):
    context: Context = Field(alias="@context")


class StandaloneAssociationEvent(AssociationEvent):
    context: Context = Field(alias="@context")


class StandaloneExtendedEvent(ExtendedEvent):
    context: Context = Field(alias="@context")


def _document_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else None
    if isinstance(kind, str) and (kind in DOCUMENT_TYPES or kind in EVENT_TYPES):
        return kind
    return _EXTENDED


AnyDocument = Annotated[
    Annotated[EpcisDocument, Tag("EPCISDocument")]
    | Annotated[EpcisQueryDocument, Tag("EPCISQueryDocument")]
    | Annotated[StandaloneObjectEvent, Tag("ObjectEvent")]
    | Annotated[StandaloneAggregationEvent, Tag("AggregationEvent")]
    | Annotated[StandaloneTransactionEvent, Tag("TransactionEvent")]
    | Annotated[StandaloneTransformationEvent, Tag("TransformationEvent")]
    | Annotated[StandaloneAssociationEvent, Tag("AssociationEvent")]
    | Annotated[StandaloneExtendedEvent, Tag(_EXTENDED)],
    Discriminator(_document_tag),
]

DOCUMENT: Final[TypeAdapter[Any]] = TypeAdapter(AnyDocument)
"""A JSON document: an EPCISDocument, an EPCISQueryDocument or one standalone event."""
EVENT: Final[TypeAdapter[Any]] = TypeAdapter(AnyEvent)
"""One event as it appears in a document's ``eventList`` (no ``@context`` needed)."""
TAGS: Final = frozenset({*DOCUMENT_TYPES, *EVENT_TYPES, _EXTENDED})
"""The names pydantic puts in an error's location where it chose a model by ``type``."""
