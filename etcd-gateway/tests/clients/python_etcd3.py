"""The gRPC client `etcd3` (PyPI, 0.12) against one endpoint: put, get, prefix, delete, txn,
lease with keepalive, watch and compaction errors. Prints one line per step; the test compares
the lines of etcd 3.5.1 and of the gateway's embedded store. Usage: python3 python_etcd3.py HOST PORT
"""

import sys
import threading
import time

import etcd3
import grpc

client = etcd3.client(host=sys.argv[1], port=int(sys.argv[2]), timeout=10)


def show(*parts):
    print(" ".join(str(part) for part in parts), flush=True)


client.put("/py/a", "1")
client.put("/py/b", "2")
value, meta = client.get("/py/a")
show("get", value, meta.key, meta.version, meta.create_revision, meta.mod_revision)
show("get missing", client.get("/py/none"))
show("prefix", sorted((meta.key, value) for value, meta in client.get_prefix("/py/")))

succeeded, responses = client.transaction(
    compare=[client.transactions.value("/py/a") == "1"],
    success=[client.transactions.put("/py/c", "3"), client.transactions.get("/py/b")],
    failure=[],
)
steps = [
    [(meta.key, value) for value, meta in r] if isinstance(r, list) else type(r).__name__
    for r in responses
]
show("txn", succeeded, steps)
succeeded, _ = client.transaction(
    compare=[client.transactions.version("/py/a") > 5],
    success=[],
    failure=[client.transactions.delete("/py/c")],
)
show("txn else", succeeded, client.get("/py/c"))

lease = client.lease(30)
client.put("/py/leased", "x", lease=lease)
refreshed = lease.refresh()[0]
show("keepalive", refreshed.TTL, sorted(lease.keys))
show("lease ttl", 0 < lease.remaining_ttl <= 30, lease.granted_ttl)
lease.revoke()
show("after revoke", client.get("/py/leased"))

events, cancel = client.watch("/py/w")


def put_later():
    time.sleep(0.5)
    client.put("/py/w", "v")


threading.Thread(target=put_later).start()
for event in events:
    show("watch", type(event).__name__, event.key, event.value, event.mod_revision)
    cancel()
    break

show("delete", client.delete("/py/a"), client.delete("/py/a"))
show("delete prefix", client.delete_prefix("/py/").deleted)

client.put("/py/z", "last")
_, meta = client.get("/py/z")
client.compact(meta.mod_revision)
show("compact", "latest", "ok")
for name, rev in (("old", 1), ("future", meta.mod_revision + 100)):
    try:
        client.compact(rev)
        show("compact", name, "ok")
    except grpc.RpcError as err:
        show("compact", name, err.code().name, err.details())
