"""No secret a manager holds lies in the store in the clear: neither join token's secret, nor
the CA key, nor the cluster data key, in the SQLite file or under the cluster's etcd prefix (its
whole history included); and a state from before the secrets were sealed is sealed on the
way into etcd, its tokens unchanged."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from common import pki
from common.model import NodeRole
from manager import join_secrets
from manager.bootstrap import CA_DIR, Bootstrap, bootstrap
from manager.ca_files import KEY_FILE
from manager.store import Put, StateStore
from manager.store.choice import open_store
from manager.store.etcd_client import EtcdClient
from manager.store.sqlite import SqliteStore

LIFETIME = timedelta(days=90)


def forms(secret: bytes) -> list[bytes]:
    """secret as it could be written: raw, hex, base64 (padded and not)."""
    b64 = base64.b64encode(secret)
    return [secret, secret.hex().encode(), b64, b64.rstrip(b"="), base64.urlsafe_b64encode(secret)]


def secrets_of(boot: Bootstrap, state_dir: Path) -> dict[str, list[bytes]]:
    key_pem = (state_dir / CA_DIR / KEY_FILE).read_bytes()
    key_der = pki.load_key(key_pem).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    found = {
        "CA key": [key_der, *(line for line in key_pem.splitlines() if len(line) == 64)],
        "data key": forms(boot.data_key.material),
    }
    for role in NodeRole:
        secret = join_secrets.secret(boot.data_key, boot.cluster, role).encode()
        found[f"{role.name.lower()} token secret"] = [secret]
    return found


def leaks(blobs: Iterable[bytes], secrets: dict[str, list[bytes]]) -> list[str]:
    blobs = list(blobs)
    return sorted(
        name
        for name, shapes in secrets.items()
        if any(shape in blob for shape in shapes for blob in blobs)
    )


async def start(store: StateStore, state_dir: Path) -> Bootstrap:
    return await bootstrap(store, state_dir, "127.0.0.1:7462", "mgr", None, LIFETIME)


def sqlite_files(state_dir: Path) -> list[bytes]:
    """The SQLite database and its journal files, as on disk."""
    return [p.read_bytes() for p in state_dir.glob("state.db*")]


async def test_the_sqlite_file_holds_no_secret_in_the_clear(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "state.db")
    try:
        boot = await start(store, tmp_path)
        restarted = await start(store, tmp_path)
    finally:
        await store.close()
    assert restarted.cluster == boot.cluster
    files = await asyncio.to_thread(sqlite_files, tmp_path)
    assert files
    assert leaks(files, secrets_of(boot, tmp_path)) == []


async def history(client: EtcdClient, prefix: bytes) -> list[bytes]:
    """Every value ever written under prefix (etcd keeps them until compacted)."""
    kvs, _ = await client.range_prefix(prefix)
    newest = max(kv.mod_revision for kv in kvs)
    values: list[bytes] = []
    async with asyncio.timeout(30):
        async for answer in client.watch(prefix, 1):
            values += [e.kv.value for e in answer.events]
            if any(e.kv.mod_revision >= newest for e in answer.events):
                return values
    raise AssertionError("the watch ended before the newest revision")


@pytest.mark.etcd
async def test_an_older_state_moves_into_etcd_sealed(etcd_endpoint: str, tmp_path: Path) -> None:
    """A SQLite state from before sealing (clear secrets) moves into etcd: etcd never receives
    the clear secrets, and the tokens are the same as before."""
    sqlite = await SqliteStore.open(tmp_path / "state.db")
    try:
        before = await start(sqlite, tmp_path)
        worker = join_secrets.secret(before.data_key, before.cluster, NodeRole.WORKER)
        manager = join_secrets.secret(before.data_key, before.cluster, NodeRole.MANAGER)
        older = replace(
            before.cluster,
            sealed_worker_secret=b"",
            sealed_manager_secret=b"",
            clear_worker_secret=worker,
            clear_manager_secret=manager,
        )
        await sqlite.commit([Put(older)])
    finally:
        await sqlite.close()
    prefix = f"/it-sealed-{uuid.uuid4().hex[:12]}"
    opened = await open_store(
        f"etcd://{etcd_endpoint}{prefix}",
        tmp_path / "state.db",
        None,
        partial(join_secrets.sealed_object, before.data_key),
    )
    try:
        after = await start(opened.store, tmp_path)
    finally:
        await opened.store.close()
    assert join_secrets.secret(after.data_key, after.cluster, NodeRole.WORKER) == worker
    assert join_secrets.secret(after.data_key, after.cluster, NodeRole.MANAGER) == manager
    assert (after.cluster.clear_worker_secret, after.cluster.clear_manager_secret) == ("", "")
    client = EtcdClient([etcd_endpoint])
    try:
        values = await history(client, prefix.encode())
    finally:
        await client.close()
    assert leaks(values, secrets_of(after, tmp_path)) == []
