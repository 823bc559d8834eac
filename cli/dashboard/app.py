"""The dashboard's ASGI app: pages and fragments rendered from Control API reads, SSE streams
fed by the Control API's Events and ServiceLogs, and the one write, scaling a service."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from cli import service_update
from cli.client import Client
from cli.dashboard import pages
from cli.dashboard.events import Broadcast, describe, pumped
from common.errors import NotFound, ShoalError, Unavailable
from common.logs import LogOptions, ServiceLogs
from common.model import now

STATIC = Path(__file__).parent / "static"
# The lines a service page starts with before it follows.
LOG_TAIL = 100
R = TypeVar("R")


def build_app(client: Client) -> Starlette:
    feed: Broadcast[tuple[str, str]] = Broadcast()

    async def call(fn: Callable[[], R]) -> R:
        # The client's calls block (a sync gRPC channel, each with its deadline).
        return await asyncio.to_thread(fn)

    async def follow_cluster() -> None:
        def stream() -> Any:
            return client.events([])

        try:
            async for event in pumped(stream):
                feed.publish(("cluster", describe(event)))
        except ShoalError as exc:
            feed.publish(("lost", f"live updates stopped: {exc}"))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        follower = asyncio.create_task(follow_cluster())
        try:
            yield
        finally:
            follower.cancel()

    def page(
        title: Callable[[Request], str],
        fragment: Callable[[Request], Awaitable[str]],
        extra: Callable[[Request], Awaitable[str]] | None = None,
    ) -> tuple[Callable[[Request], Awaitable[Response]], Callable[[Request], Awaitable[Response]]]:
        async def whole(request: Request) -> Response:
            async def render() -> str:
                body = await fragment(request)
                more = await extra(request) if extra is not None else ""
                return pages.frame(title(request), f"/fragments{request.url.path}", body, more)

            return await _answer(render)

        async def part(request: Request) -> Response:
            return await _answer(lambda: fragment(request))

        return whole, part

    async def overview(_request: Request) -> str:
        nodes, services, listing = await asyncio.gather(
            call(client.list_nodes), call(client.list_services), call(client.list_tasks)
        )
        return pages.overview(nodes, services, listing)

    async def service(request: Request) -> str:
        ref = request.path_params["ref"]
        found = await call(lambda: client.get_service(ref))
        listing = await call(lambda: client.list_tasks(service_ref=found.id))
        return pages.service_page(found, listing, now())

    async def scale_form(request: Request) -> str:
        ref = request.path_params["ref"]
        return pages.scale_form(await call(lambda: client.get_service(ref)))

    async def node(request: Request) -> str:
        ref = request.path_params["ref"]
        found = await call(lambda: client.get_node(ref))
        listing = await call(lambda: client.list_tasks(node_ref=found.id))
        return pages.node_page(found, listing, now())

    async def networks(_request: Request) -> str:
        return pages.networks_page(await call(client.list_networks))

    async def scale(request: Request) -> Response:
        ref = request.path_params["ref"]
        try:
            body = await request.json()
        except ValueError:
            return PlainTextResponse("expected a JSON object with replicas", status_code=400)
        text = str(body.get("replicas", "") if isinstance(body, dict) else "").strip()
        try:
            count = service_update.replicas(text)
        except argparse.ArgumentTypeError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        try:
            await call(lambda: service_update.set_replicas(client, ref, count))
        except ShoalError as exc:
            return PlainTextResponse(str(exc), status_code=_status(exc))
        return PlainTextResponse(f"scaled to {count}")

    async def cluster_events(_request: Request) -> Response:
        async def stream() -> AsyncIterator[dict[str, str]]:
            # A page refreshes at "ready": what changed between its rendering and now is
            # shown, and every later change comes as an event.
            async for kind, text in feed.subscribe(("ready", "")):
                yield {"event": kind, "data": text}

        return EventSourceResponse(stream())

    async def service_logs(request: Request) -> Response:
        ref = request.path_params["ref"]

        def batches() -> Any:
            return client.service_logs(ref, LogOptions(follow=True, tail=LOG_TAIL))

        async def stream() -> AsyncIterator[dict[str, str]]:
            names: dict[str, str] = {}
            try:
                async for batch in pumped(batches):
                    for text in _log_lines(batch, names):
                        yield {"event": "line", "data": text}
            except ShoalError as exc:
                yield {"event": "line", "data": f"logs stopped: {exc}"}

        return EventSourceResponse(stream())

    overview_page, overview_part = page(lambda _r: "Cluster", overview)
    service_page, service_part = page(
        lambda r: f"Service {r.path_params['ref']}", service, scale_form
    )
    node_page, node_part = page(lambda r: f"Node {r.path_params['ref']}", node)
    networks_page, networks_part = page(lambda _r: "Networks", networks)
    routes = [
        Route("/", overview_page),
        Route("/fragments/", overview_part),
        Route("/services/{ref}", service_page),
        Route("/fragments/services/{ref}", service_part),
        Route("/services/{ref}/scale", scale, methods=["POST"]),
        Route("/services/{ref}/logs", service_logs),
        Route("/nodes/{ref}", node_page),
        Route("/fragments/nodes/{ref}", node_part),
        Route("/networks", networks_page),
        Route("/fragments/networks", networks_part),
        Route("/events", cluster_events),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _status(exc: ShoalError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Unavailable):
        return 503
    return 400


async def _answer(render: Callable[[], Awaitable[str]]) -> Response:
    try:
        return HTMLResponse(await render())
    except ShoalError as exc:
        return HTMLResponse(pages.error_page(str(exc)), status_code=_status(exc))


def _log_lines(batch: ServiceLogs, names: dict[str, str]) -> list[str]:
    for source in batch.sources:
        names[source.task_id] = f"{source.service_name}.{source.slot}@{source.node_name}"
    lines = [
        f"{names.get(line.task_id, line.task_id)} | "
        + line.data.decode(errors="replace").rstrip("\n")
        for line in batch.lines
    ]
    lines += [f"error from node {e.node}: {e.message}" for e in batch.errors]
    return lines
