#!/usr/bin/env python3
"""Drives kazoo through every op it sends, for proto-tests' golden vectors.

Usage: kazoo_client.py HOST:PORT

At each barrier the script syncs the path /kazoo-barrier-<label>, then waits for a line on stdin:
the capture driver watches the recording for that sync's reply, does what the step needs (waits
for a ping, cuts the connection), and then writes a line.
"""
import sys
import threading

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    BadVersionError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)
from kazoo.security import make_acl, make_digest_acl

hosts = sys.argv[1]
zk = KazooClient(hosts=hosts, timeout=4.0)
connected = threading.Event()


def listener(state):
    if state == KazooState.CONNECTED:
        connected.set()
    else:
        connected.clear()


zk.add_listener(listener)
zk.start(timeout=30)


def barrier(label):
    zk.sync("/kazoo-barrier-" + label)
    line = sys.stdin.readline()
    if not line:
        sys.exit("capture driver went away")


def expect(exc, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc:
        return
    raise AssertionError("expected %s from %s%r" % (exc.__name__, fn.__name__, args))


fired = []


def watcher(event):
    fired.append(event)


# Creates: plain, ephemeral (empty data), sequential, create2 (include_data).
zk.create("/kazoo", b"root")
zk.create("/kazoo/a", b"x")
zk.create("/kazoo/e", b"", ephemeral=True)
zk.create("/kazoo/s-", b"seq", sequence=True)
zk.create("/kazoo/c2", b"with stat", include_data=True)
expect(NodeExistsError, zk.create, "/kazoo/a", b"x")

# Reads, with and without watches; errors.
zk.exists("/kazoo/a")
zk.exists("/kazoo/missing", watch=watcher)
zk.get("/kazoo/a", watch=watcher)
expect(NoNodeError, zk.get, "/kazoo/missing")
zk.get_children("/kazoo", watch=watcher)
zk.get_children("/kazoo", include_data=True)
zk.sync("/kazoo")
zk.get_acls("/kazoo/a")
zk.set_acls("/kazoo/a", [make_acl("world", "anyone", all=True)])

# Writes that fire the watches above.
zk.set("/kazoo/a", b"y")
zk.create("/kazoo/missing", b"now here")
zk.delete("/kazoo/missing")
expect(BadVersionError, zk.set, "/kazoo/a", b"z", version=99)
expect(NotEmptyError, zk.delete, "/kazoo")

# multi: success, then failure ([0, BADVERSION, RUNTIMEINCONSISTENCY]).
_, stat = zk.get("/kazoo/a")
t = zk.transaction()
t.create("/kazoo/t1", b"1")
t.set_data("/kazoo/a", b"w")
t.check("/kazoo/a", stat.version + 1)
t.delete("/kazoo/t1")
t.commit()
t = zk.transaction()
t.create("/kazoo/t2", b"2")
t.check("/kazoo/a", 999)
t.delete("/kazoo/c2")
results = t.commit()
assert isinstance(results[1], BadVersionError), results

# Digest auth and a node only this identity may read.
zk.add_auth("digest", "user:secret")
zk.create("/kazoo/secret", b"s", acl=[make_digest_acl("user", "secret", all=True)])
# kazoo writes the empty string as null (length -1): here the id of the "auth" ACL.
zk.create("/kazoo/creator", b"c", acl=[make_acl("auth", "", all=True)])

# reconfig on a standalone server without reconfigEnabled: an error reply.
try:
    zk.reconfig(joining="server.100=127.0.0.1:2888:3888:participant;2181", leaving=None, new_members=None)
except Exception:
    pass

barrier("ops")
# Idle until the driver has seen a ping.
barrier("idle")
# The driver cuts the connection now; kazoo resumes the session on a new one.
connected.clear()
barrier("cut")
if not connected.wait(30):
    sys.exit("kazoo did not reconnect")
zk.get("/kazoo/a")

# A second, unauthenticated client: NOAUTH.
other = KazooClient(hosts=hosts, timeout=4.0)
other.start(timeout=30)
expect(NoAuthError, other.get, "/kazoo/secret")
other.stop()
other.close()

barrier("end")
zk.stop()
zk.close()
