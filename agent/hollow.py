"""`agent hollow`: many simulated nodes in one process, to size a manager before buying hosts
(as Kubernetes' kubemark does with hollow kubelets).

Each node is a joined node of its own (its key, certificate and identity in a sub-directory of
--state-dir) running the real NodeAgent: its own mutual-TLS session, heartbeats, status
batching, renewal and reconnects. Only the engine is the in-memory one (agent/runtime/fake.py),
where a task's container runs at once. No routing mesh and no cluster networks are set up, and
no secret or config file is written: a hollow node touches nothing on the host.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
from pathlib import Path

import structlog

from agent.node import NodeAgent
from agent.runtime.fake import FakeRuntime
from agent.task_files import UnwrittenFiles, files_dir
from common import identity, log, tokens
from common.cli_args import Parser
from common.errors import InvalidArgument, ShoalError
from common.hostname import hostname_problem
from common.model import NodeDescription
from common.netaddr import join_host_port, split_host_port
from common.ports import DEFAULT_PORT, join_addr
from common.tls import Bundle

DEFAULT_STATE_DIR = "/var/lib/shoal/hollow"
# Joins in flight at once: the join port takes 20 a second from one address after a burst of
# 40, so more in flight would only be turned away and retried.
JOINS_IN_FLIGHT = 8

# Sessions a process opens at once. Every session begins with a TLS handshake the manager
# makes in its turn: 10,000 nodes started in the same instant (10 processes) kept the manager's
# handshakes waiting past the nodes' connect deadline, every node retried, and after minutes
# 2,000 were Ready beside 10,000 abandoned sockets. Hosts do not boot in the same instant: the
# next node starts once one of those opening is in, or has waited OPEN_WAIT seconds.
OPENING = 10
OPEN_WAIT = 30.0

logger = structlog.get_logger("agent.hollow")


def add_parser(commands: argparse._SubParsersAction[Parser]) -> None:
    hollow = commands.add_parser(
        "hollow",
        help="run COUNT simulated nodes (real agent code, in-memory engine) to size a manager",
    )
    hollow.add_argument("--count", type=int, required=True, help="how many nodes to simulate")
    hollow.add_argument("--state-dir", type=Path, default=Path(DEFAULT_STATE_DIR))
    hollow.add_argument(
        "--hostname-prefix",
        default="",
        help="node I is named PREFIX + I (default: this host's name and '-hollow-');"
        " several processes need different prefixes",
    )
    hollow.add_argument("--log-level", choices=log.LEVELS, default="warning")
    hollow.add_argument(
        "token", nargs="?", default=None, help="a worker join token (not needed once joined)"
    )
    hollow.add_argument("addr", nargs="?", default=None, help="the manager's ADDR:PORT")


def check_args(args: argparse.Namespace) -> str:
    """The host name prefix to use, once the arguments hold together; InvalidArgument if not."""
    if args.count < 1:
        raise InvalidArgument(f"--count must be at least 1, not {args.count}")
    if (args.token is None) != (args.addr is None):
        raise InvalidArgument("give both a join token and the manager's address, or neither")
    if args.token is not None:
        tokens.parse(args.token)
    prefix: str = args.hostname_prefix or f"{socket.gethostname()}-hollow-"
    problem = hostname_problem(f"{prefix}{args.count - 1}")
    if problem is not None:
        raise InvalidArgument(f"--hostname-prefix {prefix!r}: {problem}")
    return prefix


def node_dir(state_dir: Path, index: int) -> Path:
    return state_dir / f"node-{index}"


def missing(state_dir: Path, count: int) -> list[int]:
    """The nodes that have no identity yet."""
    return [i for i in range(count) if identity.load(node_dir(state_dir, i)) is None]


async def join_nodes(
    state_dir: Path, prefix: str, indexes: list[int], token: str, addr: str
) -> None:
    """Join the nodes given, a few at a time; each identity is saved as soon as it is made."""
    from common.join_client import join  # the cryptography package only while joining

    manager = join_host_port(*split_host_port(addr, DEFAULT_PORT))
    gate = asyncio.Semaphore(JOINS_IN_FLIGHT)

    async def join_one(index: int) -> None:
        async with gate:
            description = NodeDescription(hostname=f"{prefix}{index}")
            subject, bundle = await join(token, join_addr(manager), description)
        known = identity.Identity(subject.node_id, subject.cluster_id, manager)
        _keep(node_dir(state_dir, index), known, bundle)

    async with asyncio.TaskGroup() as group:
        for index in indexes:
            group.create_task(join_one(index))
    print(f"{len(indexes)} hollow nodes joined the cluster.", flush=True)


def _keep(directory: Path, known: identity.Identity, bundle: Bundle) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.parent.chmod(0o700)
    identity.save(directory, known, bundle)


async def run_nodes(state_dir: Path, count: int, prefix: str) -> None:
    """Run every node until cancelled; a node the manager refuses for good ends alone."""
    absent = missing(state_dir, count)
    if absent:
        raise ShoalError(
            f"{len(absent)} of the {count} nodes in {state_dir} have no identity:"
            " run `agent hollow` with a join token and the manager's address first"
        )
    gate = asyncio.Semaphore(OPENING)
    async with asyncio.TaskGroup() as group:
        for index in range(count):
            await gate.acquire()
            node = _node(node_dir(state_dir, index), f"{prefix}{index}")
            group.create_task(_run(node))
            group.create_task(_opened(node, gate))


def _node(directory: Path, hostname: str) -> NodeAgent:
    known = identity.load(directory)
    assert known is not None  # checked by run_nodes before any node starts
    bundle = Bundle.load(directory)
    runtime = FakeRuntime(pull_any=True)
    return hollow_node(known.node_id, known.manager, runtime, hostname, bundle, directory)


async def _run(node: NodeAgent) -> None:
    try:
        await node.run()
    except ShoalError as exc:
        logger.error("hollow node stopped", node_id=node.node_id, error=str(exc))


async def _opened(node: NodeAgent, gate: asyncio.Semaphore) -> None:
    """Gives the node's place among those opening to the next once its session is in."""
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(OPEN_WAIT):
                await node.connected.wait()
    finally:
        gate.release()


def hollow_node(
    node_id: str,
    manager: str,
    runtime: FakeRuntime,
    hostname: str,
    bundle: Bundle,
    directory: Path,
) -> NodeAgent:
    """The real NodeAgent on the in-memory engine, its tasks' secrets and configs held but
    written nowhere."""
    return NodeAgent(
        node_id,
        manager,
        runtime,
        hostname,
        bundle,
        directory,
        files=UnwrittenFiles(files_dir(node_id)),
    )


def run_argv(args: argparse.Namespace, prefix: str) -> list[str]:
    """`agent hollow` again without the token and the address, which the identities hold."""
    return [
        "hollow",
        "--count",
        str(args.count),
        "--state-dir",
        str(args.state_dir),
        "--hostname-prefix",
        prefix,
        "--log-level",
        args.log_level,
    ]
