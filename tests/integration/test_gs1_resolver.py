"""Acceptance: the resolver against the GS1-Conformant Resolver standard's statements
(ISO/IEC 18975), one test each, on the real app, real PostgreSQL and real signed codes
(the world of ``test_resolver_scenarios``)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from cloud.provenance.gs1resolver import GS1_VOC, JSONLD_CONTEXT, LINKSET_TYPE

from .test_resolver_scenarios import GTIN, HOST, LOT, World
from .test_resolver_scenarios import world as scenario_world

pytestmark = pytest.mark.integration

# The scenarios' world (a channel, real signed codes, custody captured) as this module's.
world = scenario_world


METHODS = {"GET", "HEAD", "OPTIONS"}


def _bare(world: World, i: int) -> str:
    """The Digital Link of code ``i`` without its query (what GS1 tools probe)."""
    return world.codes[i].code.uri.split("?", 1)[0].removeprefix(f"https://{HOST}")


def _code(world: World, i: int) -> str:
    return world.codes[i].code.uri.removeprefix(f"https://{HOST}")


def _scans(world: World, database_url: str) -> int:
    world.flush()
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM consumer_scans) + (SELECT count(*) FROM"
            " counterfeit_scans)"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _links(header: str) -> dict[str, str]:
    """``rel -> target`` of a Link header."""
    found = {}
    for part in header.split(", <"):
        target, _, params = part.lstrip("<").partition(">")
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "rel":
                found[value.strip('"')] = target
    return found


def test_get_head_and_options_are_supported(world: World, database_url: str) -> None:
    """SHALL support HTTP 1.1 GET, HEAD and OPTIONS requests (HEAD and OPTIONS never
    record a scan)."""
    code = _code(world, 2)
    before = _scans(world, database_url)
    options = world.client.options(code)
    assert options.status_code == 204
    assert set(options.headers["allow"].replace(" ", "").split(",")) == METHODS
    head = world.client.head(code)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"].startswith("text/html")
    assert _scans(world, database_url) == before
    assert world.client.get(code).status_code == 200
    assert _scans(world, database_url) == before + 1


def test_cors_on_every_answer(world: World) -> None:
    """SHALL support CORS: any origin may read the answers and their Link header."""
    probes = [
        (_code(world, 2), 200),
        (_bare(world, 2) + "?linkType=linkset", 200),
        (_bare(world, 2) + "/foo", 400),
        ("/01/" + GTIN[:-1] + "3", 400),
    ]
    for path, status in probes:
        answer = world.client.get(path, headers={"Origin": "https://app.example"})
        assert answer.status_code == status, path
        assert answer.headers["access-control-allow-origin"] == "*"
        assert "Link" in answer.headers["access-control-expose-headers"]
        methods = answer.headers["access-control-allow-methods"].replace(" ", "").split(",")
        assert set(methods) == METHODS


def test_an_invalid_digital_link_is_a_400_never_a_200(world: World, database_url: str) -> None:
    """SHALL extract and syntactically validate the URI and report errors with 400, and
    SHALL NOT use 200 OK with a resource that indicates an error."""
    before = _scans(world, database_url)
    bad = [
        _bare(world, 2) + "/foo",  # GS1's own probe: a trailing segment
        f"/01/{GTIN[:-1]}{(int(GTIN[-1]) + 1) % 10}/10/{LOT}/21/X",  # check digit
        f"/01/{GTIN}1/10/{LOT}/21/X",  # 15 digits
        f"/01/{GTIN}/10/{'L' * 21}/21/X",  # lot over 20 characters
        f"/01/{GTIN}/10/{LOT}/21/A~B",  # outside GS1 AI character set 82
        f"/01/{GTIN}/99/x",  # not a qualifier of a GTIN
    ]
    for path in bad:
        page = world.client.get(path)
        assert page.status_code == 400, path
        assert "不是" in page.text
        assert "not a product code" in page.text
        problem = world.client.get(path, headers={"Accept": "application/json"})
        assert problem.status_code == 400
        assert problem.headers["content-type"].startswith("application/problem+json")
        assert problem.json()["type"].endswith("not-a-trace-code")
        assert "linkset" in _links(problem.headers["link"])
    assert _scans(world, database_url) == before  # nothing recorded


def test_a_trailing_slash_is_tolerated(world: World) -> None:
    """SHOULD tolerate a trailing slash: the same answer with or without."""
    code = world.codes[4].code.uri.removeprefix(f"https://{HOST}")
    path, _, query = code.partition("?")
    first = world.scan(path + "/?" + query)
    assert first["verdict"] == "genuine"
    again = world.scan(code)
    assert again["verdict"] == "genuine_seen_before"


@pytest.mark.parametrize("how", ["linkType=linkset", "linkType=all", "accept"])
def test_the_linkset_of_an_identifier(world: World, database_url: str, how: str) -> None:
    """linkType=linkset (and the deprecated all) or Accept: application/linkset+json SHALL
    return the linkset, not a redirect, with a Link to GS1's JSON-LD context; it names the
    verdict page (the default link, title only), the product information and the public
    proof of the latest step."""
    before = _scans(world, database_url)
    bare = _bare(world, 2)
    if how == "accept":
        answer = world.client.get(bare, headers={"Accept": LINKSET_TYPE})
    else:
        answer = world.client.get(f"{bare}?{how}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(LINKSET_TYPE)
    links = _links(answer.headers["link"])
    assert links["http://www.w3.org/ns/json-ld#context"] == JSONLD_CONTEXT
    body: dict[str, Any] = answer.json()
    assert len(body["linkset"]) == 1
    item = body["linkset"][0]
    assert item["anchor"] == f"https://{HOST}{bare}"
    assert item["itemDescription"] == "Reserve Red 750 ml"
    default = item[GS1_VOC + "defaultLink"]
    assert len(default) == 1
    assert set(default[0]) == {"href", "title"}
    assert default[0]["href"] == f"https://{HOST}{bare}"
    assert {x["type"] for x in item[GS1_VOC + "verificationService"]} == {
        "text/html", "application/json"
    }  # fmt: skip
    assert item[GS1_VOC + "pip"][0]["href"] == f"https://{HOST}/01/{GTIN}"
    proof = item[GS1_VOC + "traceability"][0]["href"]
    assert proof.startswith(f"https://{HOST}/proof/")
    assert _scans(world, database_url) == before  # a linkset is not a scan


def test_a_link_type_redirects_or_is_404(world: World) -> None:
    """If the requested type of link is available the resolver SHALL redirect to it; a
    type the identifier has not is 404."""
    bare = _bare(world, 2)
    pip = world.client.get(f"{bare}?linkType=gs1:pip", follow_redirects=False)
    assert pip.status_code == 307
    assert pip.headers["location"] == f"https://{HOST}/01/{GTIN}"
    full = world.client.get(f"{bare}?linkType={GS1_VOC}traceability", follow_redirects=False)
    assert full.status_code == 307
    assert "/proof/" in full.headers["location"]
    missing = world.client.get(f"{bare}?linkType=gs1:recipeInfo")
    assert missing.status_code == 404
    assert "linkset" in _links(missing.headers["link"])


def test_a_link_header_on_every_answer(world: World) -> None:
    """Every answer carries a Link to the identifier's linkset."""
    bare = _bare(world, 3)
    expected = f"https://{HOST}{bare}?linkType=linkset"
    answers = [
        world.client.get(_code(world, 3)),
        world.client.get(_code(world, 3), headers={"Accept": "application/json"}),
        world.client.head(_code(world, 3)),
        world.client.options(_code(world, 3)),
        world.client.get(bare + "?linkType=linkset"),
        world.client.get(bare + "?linkType=gs1:pip", follow_redirects=False),
        world.client.get(bare + "/foo"),
    ]
    for answer in answers:
        links = _links(answer.headers["link"])
        target = links["linkset"]
        assert target == expected or target.startswith(f"https://{HOST}{bare}/foo"), target


def test_a_compressed_digital_link_is_decompressed(world: World) -> None:
    """Compressed GS1 Digital Links are answered like the uncompressed one, which the Link
    header names as owl:sameAs."""
    from gs1.compress.core_functions import compress_gs1_digital_link

    code = world.codes[6].code.uri
    compressed = compress_gs1_digital_link(code, False, True)
    path = compressed.removeprefix(f"https://{HOST}")
    assert path.count("/") == 1  # one path segment
    answer = world.client.get(path, headers={"Accept": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["verdict"] == "genuine", answer.json()["findings"]  # as printed
    links = _links(answer.headers["link"])
    assert links["owl:sameAs"] == code
    assert world.client.get("/favicon.ico").status_code == 404  # not everything is a code


def test_the_verdict_page_is_the_default_for_a_phone(world: World) -> None:
    page = world.client.get(_code(world, 4), headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Genuine product" in page.text
    assert "正品" in page.text


def test_a_product_link_answers_the_product_page_without_a_scan(
    world: World, database_url: str
) -> None:
    before = _scans(world, database_url)
    page = world.client.get(f"/01/{GTIN}")
    assert page.status_code == 200
    assert "Reserve Red 750 ml" in page.text
    assert world.client.get(f"/01/{GTIN}/10/{LOT}").status_code == 200
    assert world.client.get("/01/00012345600012").status_code == 404  # nobody's GTIN
    assert _scans(world, database_url) == before


def test_the_resolver_describes_itself(world: World) -> None:
    """SHALL provide a resolver description file at /.well-known/gs1resolver."""
    answer = world.client.get("/.well-known/gs1resolver")
    assert answer.status_code == 200
    description = answer.json()
    assert description["resolverRoot"] == f"https://{HOST}"
    assert description["supportedPrimaryKeys"] == ["01"]
    assert description["supportedLinkType"] == [{"namespace": GS1_VOC, "prefix": "gs1:"}]
    assert answer.headers["access-control-allow-origin"] == "*"
