"""Acceptance: tenant and distributor isolation over EVERY route of the app, and in SQL.

Two brands, two distributors each (plus a brand-owned site); every principal requests
every route with every identifier in the world (its own and everyone else's). A *leak* is
a string belonging to a scope the caller must not see, found in a response although the
request did not name it. Routes are enumerated from the app: a new route fails
:func:`test_every_route_is_probed` until it has values for its parameters here (GET) or a
write probe (other methods).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.auth.principal import Principal, Role
from cloud.auth.scope import scope_transaction
from cloud.migrate import migrate
from cloud.settings import Settings
from wire.epc import canonical_epc

from ..cloud._messages import GTIN
from ._isolation_world import (
    MARKER_PREFIXES,
    NOW,
    SCOPES,
    TENANTS,
    Scope,
    World,
    build_world,
    commissioning,
)

pytestmark = pytest.mark.integration

# Routes anyone may call, and why. They are probed for leaks all the same.
PUBLIC = {
    ("GET", "/01/{path:path}"): "consumer scans (a verdict for a signed code), GS1 linksets",
    ("OPTIONS", "/01/{path:path}"): "GS1 resolver: methods and CORS",
    ("GET", "/{segment}"): "compressed GS1 Digital Links (answered like the uncompressed)",
    ("OPTIONS", "/{segment}"): "GS1 resolver: methods and CORS",
    ("GET", "/.well-known/gs1resolver"): "the GS1 resolver description",
    ("GET", "/proof/{index}"): "the public proof of a journey step: hashes, checkpoint, anchor",
    ("GET", "/ledger/entries/{index}/proof"): "the public proof bundle (no event)",
    ("POST", "/report"): "a shopper's report of a suspected fake (tied to a scan by a token)",
    ("POST", "/auth/token"): "the login itself",
    ("GET", "/ledger/checkpoint"): "hash-only proofs: consumers and auditors verify",
    ("GET", "/ledger/entries/{index}/inclusion"): "hash-only proof",
    ("GET", "/ledger/inclusion"): "hash-only proof",
    ("GET", "/ledger/consistency"): "hash-only proof",
    ("GET", "/ledger/anchors"): "anchor transactions are public on chain",
    ("GET", "/openapi.json"): "the schema",
    ("GET", "/docs"): "the schema",
    ("GET", "/docs/oauth2-redirect"): "the schema",
    ("GET", "/redoc"): "the schema",
    ("GET", "/docs/static"): "Swagger UI and ReDoc scripts and stylesheets",
    ("GET", "/console"): "redirects to the login page",
    ("GET", "/console/"): "redirects to the login page",
    ("GET", "/console/login"): "the login form",
    ("POST", "/console/login"): "the login itself",
    ("GET", "/console/static"): "stylesheets and scripts",
    ("GET", "/console/timezone"): "remembers the viewer's time zone in a cookie; no data",
}
SKIP_PROBE = {("GET", "/docs"), ("GET", "/redoc"), ("GET", "/docs/oauth2-redirect")}


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str
    path_params: tuple[str, ...]
    query: tuple[tuple[str, bool], ...]  # (name, required)


def app_routes(app: FastAPI) -> list[RouteInfo]:
    """Every (method, path) the app serves, including routes of included routers."""
    found: list[RouteInfo] = []

    def add(route: Any) -> None:
        methods = sorted(set(getattr(route, "methods", None) or {"GET"}) - {"HEAD"})
        dependant = getattr(route, "dependant", None)
        path_params: tuple[str, ...] = ()
        query: tuple[tuple[str, bool], ...] = ()
        if dependant is not None:
            paths: dict[str, None] = {}
            queries: dict[str, bool] = {}
            stack = [dependant]
            while stack:
                d = stack.pop()
                paths.update({p.alias: None for p in d.path_params})
                queries.update({q.alias: q.field_info.is_required() for q in d.query_params})
                stack.extend(d.dependencies)
            path_params, query = tuple(paths), tuple(queries.items())
        for method in methods:
            found.append(RouteInfo(method, route.path, path_params, query))

    for route in app.routes:
        candidates = getattr(route, "effective_candidates", None)
        if candidates is not None:
            for candidate in candidates():
                add(candidate)
        else:
            add(route)
    return found


def values(world: World) -> dict[str, list[str]]:
    return {
        "tenant": list(TENANTS),
        "site": [s.site for s in SCOPES],
        "device": [s.device for s in SCOPES],
        "epc": [e for s in SCOPES for e in s.epcs],
        "q": [e for s in SCOPES for e in s.epcs],
        "index": [str(i) for s in SCOPES for i in world.ledger[s]],
        "leaf_hash": world.leaf_hashes,
        "alert_id": [str(i) for i in world.alerts.values()],
        "webhook_id": [str(i) for i in world.webhooks.values()],
        "start": [(NOW - timedelta(days=1)).isoformat()],
        "end": [(NOW + timedelta(hours=1)).isoformat()],
        "metric": ["temperature_c"],
        "first": ["1"],
        "second": ["2"],
        "gtin": [GTIN],
        "lot": ["L1"],
        # the resolver's Digital Link path (everything after /01/), one per scope's serial
        "path": [f"{GTIN}/10/L1/21/{s.serials[0]}" for s in SCOPES],
        "segment": ["AQnYUc1gmiERBhQ0ytiyZuAGOLc1TXgpNWCv1", "favicon.ico"],
        "format": ["json", "html"],
        "serial": [s.serials[0] for s in SCOPES],
        "containers": ["true"],
        "prefix": [*TENANTS.values(), *MARKER_PREFIXES.values()],
        "distributor": ["d1", "d2"],
        "key": ["d1", "d2", *(s.site for s in SCOPES), GTIN],
        "tz": ["Asia/Shanghai"],
        "import_id": [str(i) for i in world.imports.values()],
    }


def requests_for(route: RouteInfo, world: World) -> Iterator[tuple[str, dict[str, str]]]:
    """(path, query) pairs: every value of every path parameter, required query values,
    and each known optional query parameter with every value."""
    known = values(world)
    missing = [p for p in route.path_params if p not in known]
    missing += [q for q, required in route.query if required and q not in known]
    assert not missing, f"{route.method} {route.path}: add probe values for {missing}"
    required = [q for q, req in route.query if req]
    optional = [q for q, req in route.query if not req and q in known]
    for combo in itertools.product(*(known[p] for p in route.path_params)):
        path = route.path
        for name, value in zip(route.path_params, combo, strict=True):
            path = path.replace("{" + name + "}", value)
        paths = [path]
        if "{path:path}" in path:  # read from the raw request, not declared as a parameter
            paths = [path.replace("{path:path}", value) for value in known["path"]]
        for path, req in itertools.product(paths, itertools.product(*(known[q] for q in required))):
            base = dict(zip(required, req, strict=True))
            yield path, base
            for name in optional:
                for value in known[name]:
                    yield path, {**base, name: value}


@pytest.fixture(scope="module")
def world_app(postgres: Any) -> Iterator[tuple[World, TestClient]]:
    """One world for the module (read-only probes; write probes restore what they touch)."""
    import uuid

    name = f"ct_test_iso_{uuid.uuid4().hex[:8]}"
    url = postgres.create_database(name)
    try:
        migrate(url)
        # Reads through CT_DATABASE_READ_URL, on sessions that refuse every write: a GET
        # route that writes fails here (it would on a replica; cloud/api/deps.py).
        read_only = f"{url}?options=-c%20default_transaction_read_only%3Don"
        settings = Settings(
            database_url=url, database_read_url=read_only, public_rate_limit="1000000/minute"
        )
        with TestClient(create_app(settings), follow_redirects=False) as client:
            world = build_world(url, client, settings)
            yield world, client
    finally:
        postgres.drop_database(name)


def _probe(
    client: TestClient,
    world: World,
    viewer: Scope | None,
    path: str,
    query: dict[str, str],
    method: str = "GET",
) -> tuple[int, str, str]:
    headers, cookies = ({}, {}) if viewer is None else (
        world.headers(viewer), {"ct_session": world.tokens[viewer]})  # fmt: skip
    client.cookies.clear()
    client.cookies.update(cookies)
    response = client.request(method, path, params=query, headers=headers)
    return response.status_code, response.text, unquote(str(response.request.url))


def test_every_route_is_probed(world_app: tuple[World, TestClient]) -> None:
    world, client = world_app
    unprobed = []
    for route in app_routes(client.app):  # type: ignore[arg-type]
        key = (route.method, route.path)
        if route.method != "GET" and key not in PUBLIC and key not in WRITE_PROBES:
            unprobed.append(key)
        elif route.method == "GET" and key not in SKIP_PROBE:
            assert list(requests_for(route, world)), key
    assert not unprobed, f"routes without an isolation probe (add one to WRITE_PROBES): {unprobed}"


def test_private_routes_need_credentials(world_app: tuple[World, TestClient]) -> None:
    world, client = world_app
    open_routes = []
    for route in app_routes(client.app):  # type: ignore[arg-type]
        key = (route.method, route.path)
        if key in PUBLIC or key in SKIP_PROBE:
            continue
        path, query = next(requests_for(route, world)) if route.method == "GET" else (
            _fill(route.path, world), {})  # fmt: skip
        status, _body, _url = _probe(client, world, None, path, query, route.method)
        # the API answers 401; the console redirects to its login page
        if status not in (401, 303, 307) and not (
            status == 403 and route.path.startswith("/console")
        ):
            open_routes.append((key, status))
    assert open_routes == []


def _fill(path: str, world: World) -> str:
    known = values(world)
    for name, options in known.items():
        path = path.replace("{" + name + "}", options[0])
    return path.replace("{action}", "acknowledge").replace("{username}", "nobody")


def test_no_route_leaks_another_scope(world_app: tuple[World, TestClient]) -> None:
    world, client = world_app
    routes = [r for r in app_routes(client.app) if r.method == "GET"]  # type: ignore[arg-type]
    routes = [r for r in routes if (r.method, r.path) not in SKIP_PROBE]
    # Scans last: a scan of acme's GTIN with another scope's serial typed into it is kept on
    # acme's counterfeit map as typed (a string someone typed, not the other scope's data;
    # see _WORLD_ROWS_ONLY), which acme's scan map would otherwise show to its own probe.
    routes.sort(key=lambda r: r.path.startswith(("/01/", "/{segment}")))
    leaks: list[tuple[str, str, str]] = []
    seen: dict[Scope, set[str]] = {v: set() for v in SCOPES}
    requests = 0
    viewers: list[Scope | None] = [*SCOPES, None]
    for viewer in viewers:
        foreign = world.foreign_markers(viewer) if viewer else world.all_markers()
        own = world.own_markers(viewer) if viewer else set()
        for route in routes:
            if viewer is None and ("GET", route.path) not in PUBLIC:
                continue  # answered 401: test_private_routes_need_credentials
            for path, query in requests_for(route, world):
                status, body, url = _probe(client, world, viewer, path, query)
                requests += 1
                assert status < 500, (viewer, url, body[:300])
                for marker in foreign:
                    if marker in body and marker not in url:
                        leaks.append((str(viewer), url, marker))
                if viewer is not None and status == 200:
                    seen[viewer] |= {m for m in own if m in body and m not in url}
    print(f"isolation: {requests} requests over {len(routes)} GET routes, {len(leaks)} leaks")
    assert leaks == []
    for viewer in SCOPES:  # the probes reach data: each principal sees all of its own
        assert world.own_markers(viewer) - seen[viewer] == set(), viewer


# ------------------------------------------------------------------ write routes


def _custody_state(world: World) -> list[Any]:
    with psycopg.connect(world.database_url) as conn:
        return [
            conn.execute("SELECT count(*) FROM custody_events").fetchone(),
            conn.execute("SELECT count(*) FROM ledger_entries").fetchone(),
            conn.execute("SELECT tenant_id, epc, status, site FROM units ORDER BY 1, 2").fetchall(),
        ]


def _naming(epcs_of: Scope, at: Scope, by: Scope) -> dict[str, Any]:
    """An event at ``at``'s own site (so only the EPCs decide) about ``epcs_of``'s units."""
    document = commissioning(at, by)
    event = document["epcisBody"]["eventList"][0]
    event.update(epcList=list(epcs_of.epcs), action="OBSERVE", bizStep="inspecting")
    event.pop("eventID", None)  # not the world's own ids
    return document


def _capture_in_scope(client: TestClient, world: World) -> None:
    before = _custody_state(world)
    with psycopg.connect(world.database_url) as conn:
        before_count = conn.execute("SELECT count(*) FROM custody_events").fetchone()
    for viewer in SCOPES:
        for owner in SCOPES:  # another tenant's units, named at one's own site: 403
            if owner.tenant == viewer.tenant and (
                viewer.distributor is None or owner.distributor == viewer.distributor
            ):
                continue  # its own (a brand's whole tenant; a distributor's own site)
            client.cookies.clear()
            response = client.post(
                "/epcis/capture", json=_naming(owner, viewer, viewer), headers=world.headers(viewer)
            )
            assert response.status_code == 403, (viewer, owner, response.text)
            assert response.json().get("epc") == canonical_epc(owner.epcs[0]), response.text
    assert _custody_state(world) == before
    for viewer in SCOPES:
        other = next(t for t in TENANTS if t != viewer.tenant)
        status, _, _ = _probe(client, world, viewer, "/epcis/capture", {"tenant": other}, "POST")
        assert status in (404, 422), viewer  # 404 before or 422 for the empty body
        if viewer.distributor is None:
            continue
        for place in SCOPES:  # a distributor records events at its own sites only
            if place == viewer:
                continue
            client.cookies.clear()
            response = client.post(
                "/epcis/capture", json=commissioning(place, viewer), headers=world.headers(viewer)
            )
            assert response.status_code == 403, (viewer, place, response.text)
    with psycopg.connect(world.database_url) as conn:
        after = conn.execute("SELECT count(*) FROM custody_events").fetchone()
    assert after == before_count
    assert _custody_state(world) == before
    own = Scope("acme", "d1")
    client.cookies.clear()
    response = client.post(
        "/epcis/capture", json=commissioning(own, own), headers=world.headers(own)
    )
    assert response.status_code == 202, response.text


def _thresholds(client: TestClient, world: World) -> None:
    for viewer in SCOPES:
        for tenant in TENANTS:
            client.cookies.clear()
            response = client.put(
                f"/audit/brands/{tenant}/thresholds",
                json={"max_speed_kmh": 123},
                headers=world.headers(viewer),
            )
            if tenant != viewer.tenant:
                assert response.status_code == 404, (viewer, tenant)
            elif viewer.distributor is not None:
                assert response.status_code == 403, viewer
    with psycopg.connect(world.database_url) as conn:
        rows = conn.execute("SELECT tenant_id FROM brand_settings").fetchall()
    assert sorted(r[0] for r in rows) == sorted(TENANTS)  # written by each brand only


def _console_alert_actions(client: TestClient, world: World) -> None:
    from cloud.auth.csrf import csrf_token

    for viewer in SCOPES:
        for owner, alert_id in world.alerts.items():
            if owner.visible_to(viewer):
                continue
            token = world.tokens[viewer]
            client.cookies.clear()
            client.cookies.update({"ct_session": token})
            client.post(f"/console/alerts/{alert_id}/acknowledge", data={"csrf": csrf_token(token)})
    with psycopg.connect(world.database_url) as conn:
        states = conn.execute("SELECT DISTINCT state FROM alerts").fetchall()
    assert states == [("open",)]  # nobody acknowledged an alert it cannot see


def _alert_transitions(client: TestClient, world: World) -> None:
    for viewer in SCOPES:
        for owner, alert_id in world.alerts.items():
            if owner.visible_to(viewer):
                continue
            for tenant in {viewer.tenant, owner.tenant}:
                for action in ("acknowledge", "resolve"):
                    status, body, _ = _probe(
                        client, world, viewer,
                        f"/v1/tenants/{tenant}/alerts/{alert_id}/{action}", {}, "POST",
                    )  # fmt: skip
                    assert status in (403, 404), (viewer, owner, action, status, body)
    with psycopg.connect(world.database_url) as conn:
        states = conn.execute("SELECT DISTINCT state FROM alerts").fetchall()
    assert states == [("open",)]


def _webhook_writes(client: TestClient, world: World) -> None:
    for viewer in SCOPES:
        other = next(t for t in TENANTS if t != viewer.tenant)
        client.cookies.clear()
        hook = {"url": "https://hooks.example/probe"}
        response = client.post(
            f"/v1/tenants/{other}/webhooks", json=hook, headers=world.headers(viewer)
        )
        assert response.status_code == 404, viewer
        if viewer.distributor is not None:
            response = client.post(
                f"/v1/tenants/{viewer.tenant}/webhooks",
                json={**hook, "distributor_id": "d2" if viewer.distributor == "d1" else "d1"},
                headers=world.headers(viewer),
            )
            assert response.status_code == 403, viewer
        for owner, hook_id in world.webhooks.items():
            if owner.visible_to(viewer):
                continue
            for tenant in {viewer.tenant, owner.tenant}:
                status, _, _ = _probe(
                    client, world, viewer, f"/v1/tenants/{tenant}/webhooks/{hook_id}", {},
                    "DELETE",
                )  # fmt: skip
                assert status in (403, 404), (viewer, owner, status)
    with psycopg.connect(world.database_url) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM webhook_subscriptions WHERE active AND id = ANY(%s)",
            (list(world.webhooks.values()),),
        ).fetchone()
    assert rows == (len(world.webhooks),)


def _console_logout(client: TestClient, world: World) -> None:
    for viewer in SCOPES:  # a logout only ends the caller's own browser session
        status, _, _ = _probe(client, world, viewer, "/console/logout", {}, "POST")
        assert status < 500


_CHANNEL_ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/v1/tenants/{tenant}/distributors"),
    ("PUT", "/v1/tenants/{tenant}/distributors/{distributor}"),
    ("POST", "/v1/tenants/{tenant}/sites"),
    ("PUT", "/v1/tenants/{tenant}/sites/{site}"),
    ("POST", "/v1/tenants/{tenant}/products"),
    ("PUT", "/v1/tenants/{tenant}/products/{gtin}"),
    ("POST", "/v1/tenants/{tenant}/epcis/locations"),
    ("DELETE", "/v1/tenants/{tenant}/epcis/locations"),
    ("POST", "/v1/tenants/{tenant}/epcis/parties"),
    ("DELETE", "/v1/tenants/{tenant}/epcis/parties"),
    ("POST", "/v1/tenants/{tenant}/channel/imports"),
    ("POST", "/v1/tenants/{tenant}/channel/imports/{import_id}/apply"),
    ("POST", "/v1/tenants/{tenant}/users"),
    ("POST", "/v1/tenants/{tenant}/users/{username}/disable"),
)
_CHANNEL_TABLES = ("distributors", "sites", "products", "epcis_locations", "epcis_parties",
                   "channel_changes", "channel_imports", "users", "company_prefixes")  # fmt: skip


def _channel_state(world: World) -> dict[str, list[Any]]:
    with psycopg.connect(world.database_url) as conn:
        return {
            t: conn.execute(f"SELECT to_jsonb(x) - 'last_used_at' FROM {t} x ORDER BY 1::text")
            .fetchall()
            for t in _CHANNEL_TABLES
        }


def _channel_probe(route: tuple[str, str]) -> Callable[[TestClient, World], None]:
    return lambda client, world: _channel_writes(client, world, route)


def _channel_writes(client: TestClient, world: World, route: tuple[str, str]) -> None:
    """Another tenant's path is unknown (404) and a distributor may not write (403) a
    channel record, mapping, import or login; nothing changes in any channel table."""
    before = _channel_state(world)
    site = {"name": "taken", "latitude": 31.23, "longitude": 121.47}
    csv = {"content": b"id,name\nx,y\n", "params": {"kind": "distributor"}}
    for viewer in SCOPES:
        for tenant in TENANTS:
            base = f"/v1/tenants/{tenant}"
            own_import = world.imports[Scope(tenant, None)]
            attempts = [
                ("POST", f"{base}/distributors", {"json": {"id": "dx", "name": "taken"}}),
                ("PUT", f"{base}/distributors/d1", {"json": {"name": "taken"}}),
                ("POST", f"{base}/sites", {"json": {"id": "sx", **site}}),
                ("PUT", f"{base}/sites/s-{tenant}d1", {"json": site}),
                ("POST", f"{base}/products", {"json": {"gtin": GTIN, "name_en": "taken"}}),
                ("PUT", f"{base}/products/{GTIN}", {"json": {"name_en": "taken"}}),
                ("POST", f"{base}/epcis/locations",
                 {"json": {"location": Scope(tenant, "d1").location, "site_id": f"s-{tenant}d2"}}),
                ("DELETE", f"{base}/epcis/locations",
                 {"params": {"location": Scope(tenant, "d1").location}}),
                ("POST", f"{base}/epcis/parties",
                 {"json": {"party": "urn:epc:id:pgln:9506000.00001", "distributor_id": "d1"}}),
                ("DELETE", f"{base}/epcis/parties",
                 {"params": {"party": "urn:epc:id:pgln:9506000.00001"}}),
                ("POST", f"{base}/channel/imports", csv),
                ("POST", f"{base}/channel/imports/{own_import}/apply", {}),
                ("POST", f"{base}/users", {"json": {"username": "intruder", "role": "brand"}}),
                ("POST", f"{base}/users/user-{tenant}hq/disable", {}),
            ]  # fmt: skip
            for (method, path, kwargs), template in zip(attempts, _CHANNEL_ROUTES, strict=True):
                if template != route:
                    continue
                if tenant == viewer.tenant and viewer.distributor is None:
                    continue  # the brand's own writes: tests/cloud/channel/test_api.py
                client.cookies.clear()
                headers = {**world.headers(viewer), "Content-Type": "text/csv"} if (
                    "content" in kwargs) else world.headers(viewer)  # fmt: skip
                response = client.request(method, path, headers=headers, **kwargs)
                expected = 404 if tenant != viewer.tenant else 403
                assert response.status_code == expected, (viewer, method, path, response.text)
    assert _channel_state(world) == before


def _prefix_state(world: World) -> list[Any]:
    with psycopg.connect(world.database_url) as conn:
        return conn.execute(
            "SELECT prefix, tenant_id, created_at FROM company_prefixes ORDER BY prefix"
        ).fetchall()


def _prefix_writes(client: TestClient, world: World) -> None:
    """Another tenant's path is unknown (404), a distributor may not manage prefixes (403),
    a brand can neither take (409: overlap) nor remove (404: not yours) another tenant's
    prefix, nor remove its own while its units are under it (409); nothing changes."""
    before = _prefix_state(world)
    for viewer in SCOPES:
        for tenant in TENANTS:
            other = next(t for t in TENANTS if t != tenant)
            taken = (TENANTS[other], MARKER_PREFIXES[other], TENANTS[other] + "5", "950600")
            attempts: list[tuple[str, str, dict[str, Any], int]] = [
                ("POST", f"/v1/tenants/{tenant}/prefixes", {"json": {"prefix": p}}, 409)
                for p in taken
            ]
            attempts += [
                ("DELETE", f"/v1/tenants/{tenant}/prefixes/{p}", {}, 404)
                for p in (TENANTS[other], MARKER_PREFIXES[other])
            ]
            attempts.append(("DELETE", f"/v1/tenants/{tenant}/prefixes/{TENANTS[tenant]}", {}, 409))
            for method, path, kwargs, own_brand in attempts:
                client.cookies.clear()
                response = client.request(method, path, headers=world.headers(viewer), **kwargs)
                expected = (
                    404 if tenant != viewer.tenant
                    else 403 if viewer.distributor is not None
                    else own_brand
                )  # fmt: skip
                assert response.status_code == expected, (viewer, method, path, response.text)
                if response.status_code == 409 and method == "POST":
                    assert other not in response.text  # whose prefix it is is not told
    assert _prefix_state(world) == before


_CONSOLE_CHANNEL_ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/console/setup/distributors"),
    ("POST", "/console/setup/distributors/{key}"),
    ("POST", "/console/setup/sites"),
    ("POST", "/console/setup/sites/{key}"),
    ("POST", "/console/setup/products"),
    ("POST", "/console/setup/products/{key}"),
    ("POST", "/console/setup/mappings"),
    ("POST", "/console/setup/mappings/delete"),
    ("POST", "/console/setup/logins"),
    ("POST", "/console/setup/logins/{username}/disable"),
    ("POST", "/console/setup/import"),
    ("POST", "/console/setup/imports/{import_id}/apply"),
    ("POST", "/console/setup/prefixes"),
    ("POST", "/console/setup/prefixes/{prefix}/remove"),
)


def _console_channel_writes(client: TestClient, world: World) -> None:
    """Through the console's forms (with a valid CSRF token): a distributor writes nothing
    (403 page) and a brand reaches nothing of another tenant's, whose keys it can only
    name: each attempt leaves every channel table as it was."""
    from cloud.auth.csrf import csrf_token

    before = _channel_state(world)
    for viewer in SCOPES:
        other = next(t for t in TENANTS if t != viewer.tenant)
        foreign = Scope(other, "d1")
        token = world.tokens[viewer]
        csrf = csrf_token(token)
        site_form = {"id": foreign.site, "name": "taken", "csrf": csrf}
        attempts: list[tuple[str, dict[str, Any]]] = [  # keys only the other tenant has
            ("/console/setup/sites/" + foreign.site, {"data": site_form}),
            ("/console/setup/mappings/delete", {"data": {"kind": "location", "csrf": csrf,
                                                         "key": foreign.location}}),
            ("/console/setup/logins/" + f"user-{foreign.tag}/disable", {"data": {"csrf": csrf}}),
            (f"/console/setup/imports/{world.imports[Scope(other, None)]}/apply",
             {"data": {"csrf": csrf}}),
            (f"/console/setup/prefixes/{TENANTS[other]}/remove", {"data": {"csrf": csrf}}),
        ]  # fmt: skip
        if viewer.distributor is not None:  # any write at all: refused to distributors
            attempts += [
                ("/console/setup/distributors/d1", {"data": {"name": "taken", "csrf": csrf}}),
                ("/console/setup/products/" + GTIN, {"data": {"name_en": "taken",
                                                              "csrf": csrf}}),
                ("/console/setup/distributors", {"data": {"id": "dx", "name": "x", "csrf": csrf}}),
                ("/console/setup/sites", {"data": {"id": "sx", "name": "x", "csrf": csrf}}),
                ("/console/setup/products", {"data": {"gtin": GTIN, "name_en": "x",
                                                      "csrf": csrf}}),
                ("/console/setup/mappings", {"data": {"kind": "party", "key":
                 "urn:epc:id:pgln:9506000.00009", "target": viewer.distributor, "csrf": csrf}}),
                ("/console/setup/logins", {"data": {"username": "intruder", "csrf": csrf}}),
                ("/console/setup/prefixes", {"data": {"prefix": "9506009", "csrf": csrf}}),
                ("/console/setup/import", {"data": {"csrf": csrf}, "files": {
                    "file": ("x.csv", b"kind,id,name\ndistributor,dx,x\n", "text/csv")}}),
            ]  # fmt: skip
        for path, kwargs in attempts:
            client.cookies.clear()
            client.cookies.update({"ct_session": token})
            response = client.post(path, **kwargs)
            expected = {403} if viewer.distributor else {404, 422}
            assert response.status_code in expected, (viewer, path, response.status_code)
    assert _channel_state(world) == before


WRITE_PROBES: dict[tuple[str, str], Callable[[TestClient, World], None]] = {
    ("POST", "/v1/tenants/{tenant}/prefixes"): _prefix_writes,
    ("DELETE", "/v1/tenants/{tenant}/prefixes/{prefix}"): _prefix_writes,
    ("POST", "/epcis/capture"): _capture_in_scope,
    ("PUT", "/audit/brands/{tenant}/thresholds"): _thresholds,
    ("POST", "/console/alerts/{alert_id}/{action}"): _console_alert_actions,
    ("POST", "/console/logout"): _console_logout,
    ("POST", "/v1/tenants/{tenant}/alerts/{alert_id}/acknowledge"): _alert_transitions,
    ("POST", "/v1/tenants/{tenant}/alerts/{alert_id}/resolve"): _alert_transitions,
    ("POST", "/v1/tenants/{tenant}/webhooks"): _webhook_writes,
    ("DELETE", "/v1/tenants/{tenant}/webhooks/{webhook_id}"): _webhook_writes,
    **{route: _channel_probe(route) for route in _CHANNEL_ROUTES},
    **dict.fromkeys(_CONSOLE_CHANNEL_ROUTES, _console_channel_writes),
}


@pytest.mark.parametrize("route", sorted(WRITE_PROBES), ids=lambda r: f"{r[0]} {r[1]}")
def test_write_routes_stay_in_scope(
    world_app: tuple[World, TestClient], route: tuple[str, str]
) -> None:
    world, client = world_app
    served = {(r.method, r.path) for r in app_routes(client.app)}  # type: ignore[arg-type]
    if route not in served:
        pytest.skip(f"{route} is not served by this app")
    method, template = route
    shape = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
    sent: list[tuple[str, str]] = []
    hooks = client.event_hooks
    client.event_hooks = {**hooks, "request": [*hooks["request"],
                          lambda r: sent.append((r.method, r.url.path))]}  # fmt: skip
    try:
        WRITE_PROBES[route](client, world)  # asserts each refusal and that nothing changed
    finally:
        client.event_hooks = hooks
    # The probe reached the route it stands for (not only its neighbours).
    assert any(m == method and shape.match(path) for m, path in sent), (route, sent)


# ------------------------------------------------------------------ raw SQL under ct_app

# The world's own rows only: the resolver probes of test_no_route_leaks_another_scope are
# anonymous scans of acme's GTIN with serials naming other scopes, kept as typed on acme's
# counterfeit map (a string someone typed, not another scope's data).
_WORLD_ROWS_ONLY = {"counterfeit_scans": "reason = 'test'"}
TABLES = [
    ("sites", "id"),
    ("devices", "id"),
    ("readings", "device_id"),
    ("stock_counts", "location"),
    ("ingest_log", "device_id"),
    ("units", "serial"),
    ("custody_events", "array_to_string(epcs, ' ')"),
    ("consumer_scans", "serial"),
    ("epcis_locations", "site_id"),
    ("stock_discrepancies", "site_id"),
    ("ledger_entries", "event::text"),
    ("company_prefixes", "prefix"),
    ("counterfeit_scans", "serial"),
    ("unit_scan_state", "serial"),
    ("distributors", "name"),
    ("channel_imports", "filename"),
    ("channel_changes", "key"),
]


def test_raw_sql_under_the_application_role_sees_only_its_rows(
    world_app: tuple[World, TestClient],
) -> None:
    world, _client = world_app
    leaks = 0
    with psycopg.connect(world.database_url) as conn:
        for viewer in SCOPES:
            role = Role.DISTRIBUTOR if viewer.distributor else Role.BRAND
            principal = Principal("sql", role, viewer.tenant, viewer.distributor)
            foreign = world.foreign_markers(viewer)
            own = world.own_markers(viewer)
            seen: set[str] = set()
            with conn.transaction():
                scope_transaction(conn, principal)
                assert conn.execute("SELECT current_user").fetchone() == ("ct_app",)
                for table, column in TABLES:
                    where = _WORLD_ROWS_ONLY.get(table, "true")
                    rows = conn.execute(f"SELECT {column} FROM {table} WHERE {where}").fetchall()
                    text = " ".join(str(r[0]) for r in rows)
                    leaks += sum(1 for m in foreign if m in text)
                    seen |= {m for m in own if m in text}
                tenants = conn.execute("SELECT id FROM tenants").fetchall()
                assert tenants == [(viewer.tenant,)]
                if world.alerts:
                    text = str(conn.execute("SELECT summary FROM alerts").fetchall())
                    text += str(conn.execute("SELECT url FROM webhook_subscriptions").fetchall())
                    leaks += sum(1 for m in foreign if m in text)
                    seen |= {m for m in own if m in text}
                with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                    conn.execute("SELECT * FROM users")
            assert own - seen == set(), viewer
        with conn.transaction():  # no settings at all: nothing
            conn.execute("SET LOCAL ROLE ct_app")
            conn.execute("SET LOCAL search_path = ct_scoped, public")
            for table, _ in TABLES:
                assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
        for table in ("public.readings", "public.stock_counts", "users", "api_keys"):
            with conn.transaction(force_rollback=True):
                conn.execute("SET LOCAL ROLE ct_app")
                with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                    conn.execute(f"SELECT 1 FROM {table}")  # only through the scoped views
    assert leaks == 0
