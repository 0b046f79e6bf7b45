from __future__ import annotations

import pytest

from cloud.provenance.vocab import (
    normalise_biz_step,
    normalise_disposition,
    normalise_source_dest_type,
)


@pytest.mark.parametrize(
    "spelling",
    [
        "shipping",
        "urn:epcglobal:cbv:bizstep:shipping",
        "https://ref.gs1.org/cbv/BizStep-shipping",
        "http://ns.gs1.org/cbv/BizStep-shipping",
    ],
)
def test_biz_step_spellings_agree(spelling: str) -> None:
    assert normalise_biz_step(spelling) == "shipping"


def test_other_vocabularies() -> None:
    assert normalise_disposition("urn:epcglobal:cbv:disp:in_transit") == "in_transit"
    assert normalise_disposition("https://ref.gs1.org/cbv/Disp-retail_sold") == "retail_sold"
    assert normalise_source_dest_type("urn:epcglobal:cbv:sdt:owning_party") == "owning_party"


@pytest.mark.parametrize(
    "value",
    [
        "http://epcis.example.org/hc/bizstep/summarising_discharge",
        "urn:epcglobal:cbv:bizstep:not_a_cbv_step",
        "https://ref.gs1.org/cbv/Disp-shipping",
    ],
)
def test_non_cbv_terms_are_unchanged(value: str) -> None:
    assert normalise_biz_step(value) == value
