"""Every Redis key Herald uses, in one place."""
from __future__ import annotations

import hashlib

PREFIX = "herald:"

INCIDENT_SEQ = PREFIX + "seq:incident"
INCIDENTS_ALL = PREFIX + "incidents"  # zset: id -> created_at (epoch seconds)
INCIDENTS_OPEN = PREFIX + "incidents:open"  # zset: id -> created_at
DUE = PREFIX + "due"  # zset: id -> epoch seconds when a worker must look at it
WORKER_HEARTBEAT = PREFIX + "workers"  # zset: worker name -> last sweep (epoch seconds)


def incident(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}"


def group(receiver: str, group_key: str, policy: str) -> str:
    """The open (or last) incident of one Alertmanager group for one policy."""
    digest = hashlib.sha256(f"{receiver}\0{group_key}\0{policy}".encode()).hexdigest()[:32]
    return f"{PREFIX}group:{digest}"


def ack_token(token: str) -> str:
    return f"{PREFIX}ack:{token}"


def send_log(incident_id: str, round_: int, person: str, channel: str) -> str:
    return f"{PREFIX}sendlog:{incident_id}:{round_}:{person}:{channel}"
