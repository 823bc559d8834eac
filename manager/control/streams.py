"""The Control API's streaming calls: a service's logs and the cluster's events. Their errors,
before the first message or later (an events subscriber that fell behind), go through the one
table of common.grpc_errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from common import convert, event_filters
from common.api import control_pb2 as pb
from common.api import logs_pb2 as lpb
from common.errors import InvalidArgument, NotFound
from common.grpc_errors import stream_errors
from common.limits import MAX_WORD, check_each
from common.model import EPOCH
from manager.control.base import ControlBase
from manager.control.resolve import resolve_service, resolve_task
from manager.event_stream import Subscription


class StreamCalls(ControlBase):
    @stream_errors
    async def ServiceLogs(
        self, request: lpb.ServiceLogsRequest, context: Any
    ) -> AsyncIterator[lpb.ServiceLogsMessage]:
        if not request.ref:
            raise InvalidArgument("no service or task given")
        try:
            service_id, task_id = resolve_service(self._store, request.ref).id, ""
        except NotFound:
            task = resolve_task(self._store, request.ref)
            service_id, task_id = task.service_id, task.id
        options = convert.log_options_from_pb(request.options)
        async for message in self._logs.subscribe(service_id, task_id, options):
            yield convert.service_logs_to_pb(message)

    @stream_errors
    async def Events(
        self, request: pb.EventsRequest, context: Any
    ) -> AsyncIterator[pb.ClusterEvent]:
        check_each("event filter", (f.key + f.value for f in request.filters), MAX_WORD)
        filters = event_filters.group((f.key, f.value) for f in request.filters)
        since = (
            EPOCH + timedelta(microseconds=request.since_unix_nano // 1000)
            if request.since_unix_nano
            else None
        )
        subscription = Subscription(self._store, filters, since)
        try:
            clipped = subscription.history_from
            await context.send_initial_metadata(
                () if clipped is None else ((event_filters.HISTORY_FROM, str(_unix_nano(clipped))),)
            )
            async for batch in subscription.batches():
                for record in batch:
                    change = record.change
                    yield pb.ClusterEvent(
                        type=change.type,
                        action=change.action,
                        id=change.id,
                        attributes=[
                            pb.EventAttribute(key=k, value=v) for k, v in change.attributes
                        ],
                        time_unix_nano=_unix_nano(record.time),
                    )
        finally:
            subscription.close()


def _unix_nano(moment: datetime) -> int:
    # Exact, unlike timestamp() * 1e9, which a float cannot hold to the nanosecond.
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000
