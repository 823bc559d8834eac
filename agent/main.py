"""`agent join` and `agent run`: the worker daemon's command line."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import grpc
import structlog

from agent import identity
from agent.backoff import Backoff
from agent.runtime.docker import DockerRuntime
from agent.session import CHANNEL_OPTIONS, Agent
from common import convert, log, tokens
from common.api import dispatcher_pb2 as pb
from common.api import dispatcher_pb2_grpc
from common.cli_args import Parser, fail
from common.errors import ShoalError, Unavailable
from common.grpc_errors import from_rpc_error
from common.model import NodeDescription
from common.netaddr import join_host_port, split_host_port

DEFAULT_STATE_DIR = "/var/lib/shoal/agent"
DEFAULT_PORT = 7462
JOIN_DEADLINE = 5.0

logger = structlog.get_logger("agent")


def build_parser() -> Parser:
    parser = Parser(prog="agent", description="The Shoal worker agent.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    join = commands.add_parser("join", help="join a cluster (or resume the node in --state-dir)")
    join.add_argument("token", help="the worker join token from `shoal join-token worker`")
    join.add_argument("addr", help="the manager's ADDR:PORT")
    run = commands.add_parser("run", help="resume the node kept in --state-dir, without a token")
    for sub in (join, run):
        sub.add_argument("--state-dir", type=Path, default=Path(DEFAULT_STATE_DIR))
        sub.add_argument("--docker-host", default=os.environ.get("DOCKER_HOST"))
        sub.add_argument("--hostname", default="", help="this node's name (default: the host's)")
        sub.add_argument("--log-level", choices=log.LEVELS, default="info")
    return parser


async def join_cluster(token: str, manager: str, description: NodeDescription) -> pb.JoinResponse:
    """Join, retrying while the manager is unreachable; a refusal is final."""
    backoff = Backoff(0.1, 2.0)
    request = pb.JoinRequest(token=token, description=convert.description_to_pb(description))
    while True:
        async with grpc.aio.insecure_channel(manager, options=CHANNEL_OPTIONS) as channel:
            stub = dispatcher_pb2_grpc.DispatcherStub(channel)
            try:
                response: pb.JoinResponse = await stub.Join(request, timeout=JOIN_DEADLINE)
                return response
            except grpc.aio.AioRpcError as exc:
                error = from_rpc_error(exc)
                if not isinstance(error, Unavailable):
                    raise error from None
                logger.warning("manager unreachable, retrying", manager=manager, error=str(error))
        await asyncio.sleep(backoff.next_delay())


async def run_agent(
    state_dir: Path, docker_host: str | None, hostname: str, token: str | None, addr: str | None
) -> None:
    known = identity.load(state_dir)
    runtime = DockerRuntime(docker_host)
    try:
        if known is None:
            if token is None or addr is None:
                raise ShoalError(
                    f"no node identity in {state_dir}: run `agent join TOKEN ADDR` first"
                )
            tokens.parse(token)
            manager = join_host_port(*split_host_port(addr, DEFAULT_PORT))
            joined = await join_cluster(token, manager, NodeDescription(hostname=hostname))
            known = identity.Identity(joined.node_id, joined.cluster_id, manager)
            identity.save(state_dir, known)
            print(f"This node joined a cluster as a worker ({known.node_id}).", flush=True)
        else:
            logger.info("resuming node", node_id=known.node_id, manager=known.manager)
        structlog.contextvars.bind_contextvars(node_id=known.node_id)
        await Agent(known.node_id, known.manager, runtime, hostname).run()
    finally:
        await runtime.close()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    log.setup(args.log_level)
    hostname = args.hostname or socket.gethostname()
    token = getattr(args, "token", None)
    addr = getattr(args, "addr", None)
    try:
        asyncio.run(run_agent(args.state_dir, args.docker_host, hostname, token, addr))
    except* ShoalError as group:
        fail("; ".join(str(e) for e in group.exceptions))
    except* KeyboardInterrupt:
        pass
