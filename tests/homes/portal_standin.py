"""A stand-in for the CZ cryoET Data Portal on 127.0.0.1: its GraphQL API and its HTTPS file server.

The GraphQL server is built from the schema the portal's own Python client bundles (``cryoet_data_portal/data/
schema.graphql``, the API's published schema), so every query etdb-explore sends is validated exactly as the
portal validates it: unknown fields, wrong argument types and bad variables fail as they would there. It answers
``POST /graphql`` with ``{"query", "variables"}`` → ``{"data"}`` / ``{"errors": [{"message"}]}`` for the root
fields ``datasets``, ``runs``, ``tiltseries`` and ``tomograms``, evaluating ``where`` clauses with the comparators
``_eq``, ``_in``, ``_gte`` and ``_lte`` on scalar fields, ``orderBy`` and ``limitOffset`` (a query using another
comparator or a relation filter is an error naming it: the stand-in's subset). Objects are dicts with the
schema's camelCase field names.

The file server serves a folder over HTTP as files.cryoetdataportal.cziscience.com does over HTTPS: GET and HEAD,
``Range`` answered with 206 (aiohttp's FileResponse), so MRC files and OME-Zarr stores can be read in ranges.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import graphql
from aiohttp import web

from ..local_server import LocalServer

SCHEMA_FILE = "data/schema.graphql"


def portal_schema() -> graphql.GraphQLSchema:
    """The portal's schema, as its Python client bundles it."""
    spec = importlib.util.find_spec("cryoet_data_portal")  # found, not imported (its import is slow and noisy)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the cryoet-data-portal package (a dev dependency) is not installed")
    return graphql.build_schema((Path(spec.submodule_search_locations[0]) / SCHEMA_FILE).read_text())


def _holds(value: Any, comparators: dict[str, Any], field: str) -> bool:
    for op, wanted in comparators.items():
        if op == "_eq":
            ok = value == wanted
        elif op == "_in":
            ok = value in wanted
        elif op == "_gte":
            ok = value is not None and value >= wanted
        elif op == "_lte":
            ok = value is not None and value <= wanted
        else:
            raise graphql.GraphQLError(f"stand-in: comparator {op} on {field} is not supported")
        if not ok:
            return False
    return True


def _select(items: list[dict], where: dict | None, order_by: list | None, limit_offset: dict | None) -> list[dict]:
    out = items
    for field, comparators in (where or {}).items():
        if not isinstance(comparators, dict) or not all(k.startswith("_") for k in comparators):
            raise graphql.GraphQLError(f"stand-in: the relation filter {field} is not supported")
        out = [item for item in out if _holds(item.get(field), comparators, field)]
    for clause in reversed(order_by or []):
        for field, direction in clause.items():
            out = sorted(out, key=lambda item: item.get(field), reverse=str(direction).startswith("desc"))
    limit_offset = limit_offset or {}
    offset = limit_offset.get("offset") or 0
    limit = limit_offset.get("limit")
    return out[offset:offset + limit if limit is not None else None]


class PortalStandIn(LocalServer):
    """``tables``: {"datasets": [...], "runs": [...], "tiltseries": [...], "tomograms": [...]}; ``files``: the
    folder the file server serves (at ``files_url``)."""

    def __init__(self, tables: dict[str, list[dict]], files: Path) -> None:
        self.tables = tables
        self.files = files
        self.schema = portal_schema()
        self.queries: list[dict] = []
        for field in ("datasets", "runs", "tiltseries", "tomograms"):
            self.schema.query_type.fields[field].resolve = self._resolver(field)

    def _resolver(self, field: str) -> Any:
        def resolve(_root: Any, _info: Any, where: dict | None = None, orderBy: list | None = None,
                    limitOffset: dict | None = None) -> list[dict]:
            return _select(self.tables.get(field, []), where, orderBy, limitOffset)

        return resolve

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/graphql", self.graphql)
        app.router.add_static("/files", self.files)

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def files_url(self) -> str:
        return f"{self.url}/files"

    async def graphql(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.queries.append(body)
        result = await graphql.graphql(self.schema, body.get("query", ""),
                                       variable_values=body.get("variables"))
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [{"message": e.message} for e in result.errors]
        return web.json_response(out)
