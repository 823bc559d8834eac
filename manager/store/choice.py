"""Which backend a manager keeps its state in: `--store etcd://...`, or the SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.model import StoredObject
from manager.store.etcd import EtcdStore
from manager.store.etcd_client import EtcdClient
from manager.store.etcd_import import check_no_move_pending, move_into_etcd, refuse_moved
from manager.store.etcd_tls import EtcdTls
from manager.store.etcd_url import parse_url, uses_tls
from manager.store.sqlite import SqliteStore


@dataclass(frozen=True)
class Opened:
    store: SqliteStore | EtcdStore
    # What `shoal info` shows: "sqlite" or "etcd", and the file or the endpoints and prefix.
    backend: str
    location: str


async def open_store(
    url: str | None,
    sqlite_file: Path,
    tls: EtcdTls | None = None,
    prepare: Callable[[StoredObject], StoredObject] | None = None,
) -> Opened:
    """The store url names (etcd://HOST:PORT[,HOST:PORT...][/PREFIX]), or sqlite_file's.

    TLS to etcd with tls (the --etcd-* files), or with gRPC's own roots for etcds:// alone.
    With url, a cluster still in sqlite_file is moved into etcd first (manager/store/
    etcd_import.py), each object made what prepare returns for it.
    """
    if url is None:
        refuse_moved(sqlite_file)
        return Opened(await SqliteStore.open(sqlite_file), "sqlite", str(sqlite_file))
    endpoints, prefix = parse_url(url)
    if tls is None and uses_tls(url):
        tls = EtcdTls(None, None, None)
    client = EtcdClient(endpoints, tls=tls)
    try:
        if await asyncio.to_thread(sqlite_file.exists):
            await move_into_etcd(sqlite_file, client, prefix, prepare)
        else:
            await check_no_move_pending(client, prefix)
    finally:
        await client.close()
    store = await EtcdStore.open(endpoints, prefix, tls)
    return Opened(store, "etcd", ",".join(endpoints) + prefix)
