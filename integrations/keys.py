"""Every Redis key Herald uses, in one place."""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache

PREFIX = "herald:"

INCIDENT_SEQ = PREFIX + "seq:incident"
INCIDENTS_ALL = PREFIX + "incidents"  # zset: id -> created_at (epoch seconds)
INCIDENTS_OPEN = PREFIX + "incidents:open"  # zset: id -> created_at
INCIDENTS_RESOLVED = PREFIX + "incidents:resolved"  # zset: id -> resolved_at: what the retention purge reads
# -- the due index (service/worker/due.py): everything that becomes due, one sorted set ---------------
DUE = PREFIX + "due"  # zset: due_incident()/due_periodic() member -> epoch seconds when it is due
DUE_INFLIGHT = PREFIX + "due:inflight"  # zset: member claimed by a clock loop -> its lease's end (epoch s)
DUE_WAKE = PREFIX + "due:wake"  # list a writer pushes to when an entry became due earlier: wakes a clock loop
METRICS = PREFIX + "metrics"  # hash: metric, label values[, bucket] -> count, shared by every process
WORKER_HEARTBEAT = PREFIX + "workers"  # zset: worker name -> its last repair pass (epoch seconds)


def due_incident(incident_id: str) -> str:
    """The due-index member of an incident: its escalation, its pending pages, an ack
    timeout or snooze running out, a hold ending (which of them is read from its state)."""
    return f"incident:{incident_id}"


def due_periodic(task: str) -> str:
    """The due-index member of a periodic task ("retention", "heartbeats", "digests")."""
    return f"periodic:{task}"


def due_follow(sink: str, incident_id: str) -> str:
    """The due-index member of one follower (``sink``: "webhook:<name>", "slack") of one
    incident: the incident's timeline has entries past the sink's cursor
    (``follow_cursor``). Written by the incident commit (``store_scripts.COMMIT``)."""
    return f"follow:{sink}:{incident_id}"


def follow_cursor(incident_id: str) -> str:
    """hash: sink -> how many of the incident's timeline entries it has processed
    (``integrations.followers``), and "#timeline" -> the timeline's length its last commit
    wrote (what the repair pass compares with); removed with the incident by the retention purge."""
    return f"{PREFIX}follow:{incident_id}"


def due_handoffs(sink: str) -> str:
    """The due-index member of one follower's handoff events: handoffs past its cursor in
    ``HANDOFFS_FOLLOW``. Written by ``HandoffStore.create`` with the handoff."""
    return f"handoffs:{sink}"


#: hash: sink -> the order (number) of the last handoff it processed.
HANDOFFS_FOLLOW = PREFIX + "follow:handoffs"


def job_id(kind: str, *parts: object) -> str:
    """Every RQ job id Herald enqueues, one format: "herald-<kind>-<part>-<part>…" (":" in
    a part becomes "-"). Deterministic, so enqueueing the same work twice is harmless."""
    return "-".join(["herald", kind, *(str(p).replace(":", "-") for p in parts)])


def incident(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}"


def incident_alerts(incident_id: str) -> str:
    """Hash: fingerprint -> the whole resolved alert (AlertState JSON) of the alerts that
    left the incident's hot record (``routing.tracked``); written with the incident."""
    return f"{PREFIX}incident-alerts:{incident_id}"


@lru_cache(maxsize=8192)  # Alertmanager re-sends the same groups over and over
def _group_hash(receiver: str, group_key: str, policy: str) -> str:
    return hashlib.sha256(f"{receiver}\0{group_key}\0{policy}".encode()).hexdigest()[:32]


def group(receiver: str, group_key: str, policy: str) -> str:
    """The open (or last) incident of one Alertmanager group for one policy."""
    return f"{PREFIX}group:{_group_hash(receiver, group_key, policy)}"


def digest(receiver: str, group_key: str, policy: str) -> str:
    """"<payload digest>:<incident id>:<status>" of a group's last webhook write: a
    re-send matches it. Always ``group()`` with ``digest`` for ``group``."""
    return f"{PREFIX}digest:{_group_hash(receiver, group_key, policy)}"


def ack_token(token: str) -> str:
    return f"{PREFIX}ack:{token}"


def send_log(incident_id: str, round_: int, person: str, channel: str) -> str:
    return f"{PREFIX}sendlog:{incident_id}:{round_}:{person}:{channel}"


def pending(person: str, channel: str) -> str:
    """zset of "incident:round" -> when due: one person's pending pages on one channel."""
    return f"{PREFIX}pending:{person}:{channel}"


def rate(person: str, channel: str) -> str:
    """Held for the rate-limit window after a message to a person on a channel."""
    return f"{PREFIX}rate:{person}:{channel}"


def provider_message(provider_id: str) -> str:
    """What a provider message/call id carried: person, channel, (incident, round) pairs."""
    return f"{PREFIX}provider:{provider_id}"


def last_message(address: str) -> str:
    """The provider id of the latest page sent to a phone number."""
    return f"{PREFIX}last:{address}"


def opted_out(address: str) -> str:
    return f"{PREFIX}optout:{address}"


_EVENT_ID = re.compile(r"[A-Za-z0-9_.:=-]{1,160}")


def inbound_event(kind: str, event_id: str) -> str:
    """Claimed (SET NX EX) by the first delivery of one inbound provider event: a Twilio
    MessageSid, CallSid:Digits or sid:status, a SendGrid sg_event_id. ``kind`` names the
    webhook ("twilio-sms", ...); an id that is long or odd is stored as its SHA-256."""
    if not _EVENT_ID.fullmatch(event_id):
        event_id = "sha256-" + hashlib.sha256(event_id.encode("utf-8", "replace")).hexdigest()
    return f"{PREFIX}inbound:{kind}:{event_id}"


# -- schedules: calendar copies, handoffs, feed tokens ---------------------------------------
CALENDARS_VERSION = PREFIX + "calendars:version"  # bumped when an uploaded or fetched copy changes
HANDOFFS = PREFIX + "handoffs"  # hash: handoff id -> JSON
HANDOFFS_VERSION = PREFIX + "handoffs:version"  # bumped on every handoff created or cancelled
HANDOFF_SEQ = PREFIX + "seq:handoff"
FEEDS = PREFIX + "feeds"  # hash: sha256(feed token) -> JSON (kind, target, created_at); never the token


def calendar(schedule: str) -> str:
    """hash: the last good raw calendar (base64), its sha256, ETag, Last-Modified, version,
    load time, and the last fetch or upload outcome (checked_at, error, error_at)."""
    return f"{PREFIX}calendar:{schedule}"


def calendar_poll(schedule: str) -> str:
    """Held by the process polling a schedule's URL, for one poll interval."""
    return f"{PREFIX}calendar:{schedule}:poll"


MAINTENANCE = PREFIX + "maintenance"  # hash: window id -> JSON
MAINTENANCE_SEQ = PREFIX + "seq:maintenance"
MAINTENANCE_VERSION = PREFIX + "maintenance:version"  # bumped on every window created or changed


# -- heartbeats (the Alertmanager Watchdog is the heartbeat "watchdog") and drills ------------
HEARTBEATS = PREFIX + "heartbeats"  # hash: name -> JSON (timeout, severity, kind, created_at, last_ping)
HEARTBEAT_DEADLINES = PREFIX + "heartbeats:deadlines"  # zset: name -> deadline (epoch seconds)
HEARTBEATS_MISSING = PREFIX + "heartbeats:missing"  # hash: name -> the deadline (epoch ms) whose silence was paged
DRILLS = PREFIX + "drills"  # zset: drill incident id -> created_at (epoch seconds)


# -- integrations: sources other than Alertmanager (integrations/integration_store.py) ---------
INTEGRATIONS = PREFIX + "integrations"  # hash: name -> JSON definition, for integrations made with the API
INTEGRATION_KEYS = PREFIX + "integrations:keys"  # hash: SHA-256 of a key made with the API -> JSON; never the key
INTEGRATION_REVOKED = PREFIX + "integrations:revoked"  # set: digests of keys the file gives, revoked with the API
INTEGRATION_RATE_PREFIX = PREFIX + "integrations:rate:"  # + "<name>:<minute>": events counted; expires


def integration_rate(name: str, minute: int) -> str:
    """Counter of one integration's events in the minute numbered ``minute``."""
    return f"{INTEGRATION_RATE_PREFIX}{name}:{minute}"


def opsgenie_request(request_id: str) -> str:
    """The status of one Opsgenie Alert API request (integrations/opsgenie_requests.py):
    JSON, expiring a day after the request."""
    return f"{PREFIX}opsgenie:request:{request_id}"


# -- rate limits on wrong credentials (acknowledgement links, the console's login) -------------
def failed_attempts(target: str, who: str, window: int) -> str:
    """Counter of wrong credentials tried at ``target`` ("ack", "login") by ``who``
    ("ip:…" for one client address, "all" for every client together) in the minute
    numbered ``window``; expires after two minutes."""
    return f"{PREFIX}attempts:{target}:{who}:{window}"


# -- web console sessions ---------------------------------------------------------------------
CONSOLE_SESSIONS = PREFIX + "sessions"  # zset: console_session() key -> expiry (epoch s), the live ones


def console_session(session_id: str) -> str:
    """One console session's record, under the SHA-256 of its id: the id itself is only
    in the browser's cookie, so a copy of the database opens no session."""
    return f"{PREFIX}session:{hashlib.sha256(session_id.encode()).hexdigest()}"


# -- retention (integrations/retention_store.py) -----------------------------------------------
def sla_month(month: str) -> str:
    """hash: the SLA totals of the incidents created in ``month`` ("2026-03") that the
    retention purge removed; field "<kind>\\x1f<severity>\\x1f<policy>\\x1f<figure>" -> count
    (``routing.reports.archive_fields``). Kept for good: a few hundred bytes a month."""
    return f"{PREFIX}sla:{month}"


#: The walk over ``INCIDENTS_ALL`` that finds incidents resolved before the resolved-time
#: index existed: the creation time (epoch s) it goes on from, "done" once it saw them all.
RESOLVED_INDEX_BACKFILL = PREFIX + "retention:indexed"


# -- outgoing webhooks (integrations/webhooks.py) ---------------------------------------------
def webhook_deliveries(endpoint: str) -> str:
    """hash: event id -> its delivery record (JSON) at one endpoint; bounded with ``webhook_log``."""
    return f"{PREFIX}webhook:{endpoint}:deliveries"


def webhook_log(endpoint: str) -> str:
    """zset: event id -> when it was first tried (epoch s): the newest records of an endpoint."""
    return f"{PREFIX}webhook:{endpoint}:log"


def notice(ref: str, person: str) -> str:
    """Set once a notice (a handoff message) went to a person: a retried job sends it once."""
    return f"{PREFIX}notice:{ref}:{person}"


# -- Slack (integrations/slack_store.py) ------------------------------------------------------------
def slack_user(user_id: str) -> str:
    """The Herald person id a Slack user id maps to ("" for a Slack user no person matches), cached."""
    return f"{PREFIX}slack:user:{user_id}"


def slack_email(email: str) -> str:
    """The Slack user id of an email address (``users.lookupByEmail``), cached."""
    return f"{PREFIX}slack:email:{email.casefold()}"


def slack_message(incident_id: str) -> str:
    """Hash: the channel and ts of an incident's Slack message (the sink posts it once, then updates it)."""
    return f"{PREFIX}slack:message:{incident_id}"


def slack_group(usergroup: str) -> str:
    """The person ids a Slack user group was last set to (comma-separated, sorted)."""
    return f"{PREFIX}slack:group:{usergroup}"


#: Keys a Redis that Herald has used holds (a worker's first repair pass writes the first): with
#: none of them, a CLI command has reached some other Redis and says so.
MARKERS = (WORKER_HEARTBEAT, INCIDENT_SEQ, INCIDENTS_ALL, CALENDARS_VERSION, HANDOFFS_VERSION,
           MAINTENANCE_VERSION, HEARTBEATS, METRICS)


# -- people: contact details, verification state and personal rules (integrations/people_store.py) --
PEOPLE = PREFIX + "people"  # hash: person id -> JSON record (contacts, the file's seed); absent: the seed
PEOPLE_RULES = PREFIX + "people:rules"  # hash: person id -> JSON personal notification rules
PEOPLE_VERSION = PREFIX + "people:version"  # bumped on every change to PEOPLE or PEOPLE_RULES


def people_code(purpose: str, person: str, contact: str) -> str:
    """A one-time code sent to one contact of one person for ``purpose`` ("verify",
    "signin"): JSON of a salt and the code's HMAC, never the code; expires (10 minutes)."""
    return f"{PREFIX}people:code:{purpose}:{person}:{contact}"


def people_guesses(purpose: str, person: str) -> str:
    """Counter of wrong codes a person was tried with for ``purpose``; expires an hour after
    the first."""
    return f"{PREFIX}people:guesses:{purpose}:{person}"


def people_sends(purpose: str, person: str) -> str:
    """Counter of codes sent to a person for ``purpose``; expires an hour after the first."""
    return f"{PREFIX}people:sends:{purpose}:{person}"
