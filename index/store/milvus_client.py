"""Reaching Milvus: where a store lives (MilvusLocation), one client per location and process,
the version collections behind the live alias, and the few calls every store operation uses."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import jieba
import numpy as np

from index.store.errors import StoreError

BATCH = 512  # rows per insert and per query page
LITE_KEEPALIVE_MS = 300_000


class MilvusLocation:
    """Where a Milvus store lives: `uri` (http://host:port, or a milvus-lite .db file) and
    the alias `name` of its live version."""

    def __init__(self, uri: str, name: str, token: str = ""):
        self.uri = uri
        self.name = name
        self.token = token

    @property
    def lite(self) -> bool:
        return not self.uri.startswith(("http://", "https://", "tcp://", "unix:"))

    def __repr__(self) -> str:
        return f"MilvusLocation({self.uri!r}, {self.name!r})"


# One client per location and process: milvus-lite lets one process open a file, and
# gRPC channels do not survive a fork (`serve --workers` forks), so a forked process
# opens its own.
_CLIENTS: dict[tuple[str, str, int], object] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(location: MilvusLocation):
    """The process's MilvusClient for the location, opened on first use."""
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    key = (location.uri, location.token, os.getpid())
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            try:
                if location.lite:
                    Path(location.uri).parent.mkdir(parents=True, exist_ok=True)
                    _check_unlocked(location)
                    # milvus-lite's jieba analyzer is the jieba package: without its start-up lines
                    jieba.setLogLevel(logging.WARNING)
                options = {}
                if location.lite:
                    # pymilvus pings every 10 s; milvus-lite's in-process gRPC server allows one ping
                    # in 5 minutes and says "too_many_pings" on stderr, outside the JSON logs
                    options["grpc_options"] = {"grpc.keepalive_time_ms": LITE_KEEPALIVE_MS}
                _CLIENTS[key] = MilvusClient(uri=location.uri, token=location.token, **options)
            except (MilvusException, OSError) as exc:
                raise StoreError(_open_failure(location, exc)) from exc
        return _CLIENTS[key]


def close_clients() -> None:
    """Close this process's clients and stop its milvus-lite engines, so that another
    process may open their files (as when this process ends)."""
    with _CLIENTS_LOCK:
        for key in [k for k in _CLIENTS if k[2] == os.getpid()]:
            _CLIENTS.pop(key).close()
            if MilvusLocation(key[0], "").lite:
                from milvus_lite.server_manager import server_manager_instance

                # the client's close leaves the in-process engine running, holding the file's lock
                server_manager_instance.release_server(key[0])


def _check_unlocked(location: MilvusLocation) -> None:
    """StoreError if another process has the milvus-lite file open. milvus-lite holds an
    advisory flock on `<file>/LOCK` while open, and a second process that tries fails with
    a traceback in its log; trying the lock first gives a clear message instead."""
    lock = Path(location.uri) / "LOCK"
    if not lock.is_file():
        return
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(
                f"Milvus Lite 文件 {location.uri} 正被另一个程序使用（Milvus Lite 只允许一个进程打开它）。"
                "请先停止那个程序（例如 unionqa serve，可改用管理页加入文档），或改用 Milvus 服务器。"
            ) from None
        fcntl.flock(handle, fcntl.LOCK_UN)


def _open_failure(location: MilvusLocation, exc: Exception) -> str:
    if location.lite:
        return f"无法打开 Milvus Lite 文件 {location.uri}（{exc}）。"
    return f"无法连接 Milvus 服务 {location.uri}（{exc}）。请确认服务已启动、地址正确。"


def version_collections(client, name: str) -> list[str]:
    """The chunk collections of the store's versions, oldest first."""
    pattern = re.compile(re.escape(name) + r"_v(\d{4,})$")
    found = [(int(m.group(1)), c) for c in client.list_collections() if (m := pattern.match(c))]
    return [c for _, c in sorted(found)]


def live_collection(location: MilvusLocation) -> str:
    """The collection the alias points at ("" if there is none): one cheap call, for a
    server to check for a new version before answering."""
    client = client_for(location)
    # describe_alias of a missing alias raises, and pymilvus logs a traceback for it
    if location.name not in client.list_aliases().get("aliases", []):
        return ""
    return client.describe_alias(location.name).get("collection_name", "")


def query_rows(client, collection: str, fields: list[str], stop: int) -> Iterator[dict]:
    """Every row with an id below `stop`, a page of ids at a time (a query returns at most
    16,384 rows; query_iterator would do, but logs a warning on every milvus-lite call)."""
    for start in range(0, stop, BATCH):
        yield from client.query(collection, filter=f"id >= {start} and id < {start + BATCH}", output_fields=fields)


def create_collection(client, name: str, schema, index) -> None:
    """A collection and its indexes. The indexes are asked for without `sync`: pymilvus would
    otherwise poll each one every half second (and milvus-lite logs an error for the poll's
    timestamp call); the collection is empty now, and `load_collection` waits for them."""
    client.create_collection(name, schema=schema)
    client.create_index(name, index, sync=False)


def drop_version(client, name: str) -> None:
    for collection in (name, name + "_units", name + "_docs"):
        if client.has_collection(collection):
            client.drop_collection(collection)


def batches(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def as_list(vector: np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
