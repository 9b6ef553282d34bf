"""The running context shared by the API and the worker, and the one path every
incident change takes: decide() inside Store.apply(). Its effects (pages to send, the
next escalation, a retry) need no dispatching: the same atomic write puts the incident
in the due index at its next due time, where a worker's clock loop finds it (service/worker/due.py)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from rq import Queue

from routing.errors import Conflict
from integrations.attempt_store import AttemptStore
from integrations.calendars import CalendarBook
from integrations.console_sessions import ConsoleSessions
from integrations.drill_store import DrillStore
from integrations.feed_tokens import FeedTokens
from integrations.followers import FollowStore, HandoffSink, Sink
from integrations.handoff_store import HandoffStore
from integrations.heartbeat_store import HeartbeatStore
from integrations.integration_store import IntegrationStore
from integrations.notice_store import NoticeStore
from integrations.notifier import Notifier
from integrations.maintenance_store import MaintenanceStore
from integrations.due_store import DueIndex
from integrations.paging_store import PagingStore
from integrations.people_store import PeopleStore
from integrations.report_store import ReportStore
from integrations.slack_client import SlackApi
from integrations.slack_store import SlackStore
from integrations.retention_store import RetentionStore
from integrations.rules_store import RulesStore
from integrations.status_store import StatusStore
from integrations.webhooks import WebhookLog, WebhookSink
from integrations.store import Store
from routing.decide import Decision, decide
from routing.incident import Command, Escalate, EscalateNow, Hold, Incident, Reassign, Release, Reroute
from routing.maintenance import hold_for
from routing.personal_rules import Rulebook
from routing.policy import Roster
from integrations.config.model import HeraldConfig, load_config
from service.settings import Settings

log = logging.getLogger("herald")


#: Commands whose decision may page a tier, so decide() needs the roster.
PAGING_COMMANDS = (Escalate, EscalateNow, Reassign, Release, Reroute)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Herald:
    settings: Settings
    config: HeraldConfig
    store: Store
    queue: Queue
    calendars: CalendarBook
    paging: PagingStore
    maintenance: MaintenanceStore
    # Every other store over the same client, built once here: no code of the edge reaches
    # for a Redis client or builds a store of its own (tests/test_store_boundary.py).
    handoffs: HandoffStore
    heartbeats: HeartbeatStore
    feeds: FeedTokens
    sessions: ConsoleSessions
    retention: RetentionStore
    drills: DrillStore
    notices: NoticeStore
    reports: ReportStore
    status: StatusStore
    attempts: AttemptStore
    due: DueIndex
    integrations: IntegrationStore
    follow: FollowStore
    webhooks: WebhookLog
    slack: SlackStore
    #: People's contact details and verification state (service/engine/people.py).
    people: PeopleStore
    #: People's personal notification rules (routing/personal_rules.py).
    rules: RulesStore
    notifiers: dict[str, Notifier] = field(default_factory=dict)
    #: The sinks that follow every incident change, by name (``add_follower``).
    followers: dict[str, Sink] = field(default_factory=dict)
    #: Slack's Web API when a bot token and signing secret are set (service/engine/slack_sync.py, slack_groups.py).
    slack_api: SlackApi | None = None
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def from_settings(cls, settings: Settings, notifiers: dict[str, Notifier] | None = None) -> "Herald":
        config = load_config(settings.config)
        from service.telemetry.logs import redact_config

        redact_config(config)  # before the first calendar fetch: its URL never reaches a log line
        from service.redis_clients import connect  # HERALD_REDIS_URL, or the Sentinel master

        client = connect(settings, decode_responses=True, socket_timeout=5, health_check_interval=30)
        # RQ pickles job payloads, so it needs a connection that does not decode.
        rq_client = connect(settings, decode_responses=False, socket_timeout=10)
        from service.telemetry import metrics

        herald = cls(settings=settings, config=config, store=Store(client, count=metrics.transition_counts),
                     queue=Queue(settings.queue, connection=rq_client),
                     calendars=CalendarBook(config, client), paging=PagingStore(client),
                     maintenance=MaintenanceStore(client), handoffs=HandoffStore(client),
                     heartbeats=HeartbeatStore(client), feeds=FeedTokens(client), sessions=ConsoleSessions(client),
                     retention=RetentionStore(client), drills=DrillStore(client), notices=NoticeStore(client),
                     reports=ReportStore(client), status=StatusStore(client), attempts=AttemptStore(client),
                     due=DueIndex(client), integrations=IntegrationStore(client), follow=FollowStore(client),
                     people=PeopleStore(client), webhooks=WebhookLog(client), rules=RulesStore(client),
                     slack=SlackStore(client))
        if settings.slack_configured():
            from integrations.slack_client import web_client

            assert settings.slack_bot_token is not None
            token = settings.slack_bot_token.get_secret_value()
            herald.slack_api = SlackApi(web_client(token, settings.slack_api_base, timeout=settings.provider_timeout),
                                        quick=web_client(token, settings.slack_api_base, timeout=2, retries=0))
        herald.calendars.refresh(herald.clock(), force=True)
        if notifiers is None:
            from service.engine.channels import build_notifiers

            notifiers = build_notifiers(settings, herald.slack_api, herald.slack)
        herald.notifiers = notifiers
        for endpoint in config.webhooks:  # outgoing webhooks follow every incident change
            herald.add_follower(WebhookSink(endpoint, herald.webhooks, settings.public_url))
        from service.engine.slack_sync import follow_slack

        follow_slack(herald)  # each incident's Slack message follows every change (when configured)
        return herald

    def add_follower(self, sink: Sink) -> None:
        """Make ``sink`` follow every incident change from now on (``integrations.followers``):
        each commit that grows a timeline puts the sink's entry in the due index with it."""
        self.followers[sink.name] = sink
        self.store.followers = tuple(self.followers)
        self.handoffs.followers = tuple(name for name, s in self.followers.items() if isinstance(s, HandoffSink))

    def close(self) -> None:
        """Stop the calendar refresher thread and close the followers' HTTP connections; the
        object still answers on demand afterwards (a follower then fails and is retried)."""
        self.calendars.close()
        for sink in self.followers.values():
            closing = getattr(sink, "close", None)
            if callable(closing):
                closing()

    # -- the one way to change an incident -------------------------------------------------
    def act(self, incident_id: str, command: Command) -> Decision:
        """Apply one command to one stored incident. What it makes due (pages now, a
        timer) is in the due index with it: a worker's clock loop runs it.

        ``Conflict`` (nothing changed) when the incident's policy is no longer in the
        configuration: which tiers to page, and how, is the policy's, so no command is
        decided without it (the API answers 409, service/api/errors.py)."""

        def run(current: Incident | None) -> Decision:
            if current is None:
                return Decision(None)
            now = self.clock()
            policy = self.config.policies.get(current.policy)
            if policy is None:  # the policy was removed from the config: refuse, change nothing
                raise Conflict(f"incident {current.id}: its policy {current.policy!r} is no longer in the "
                               "configuration; put the policy back to act on this incident", field="policy")
            hold = self.hold(current.alerts.values(), now) if (
                current.held_until is not None or isinstance(command, Release)) else None
            # Only commands that may page a tier need who is on call (a calendar sync
            # round trip); acks, resolves and the delivery pipeline's outcomes do not.
            roster = self.calendars.roster(policy, now) if isinstance(command, PAGING_COMMANDS) else {}
            extra = (command.person,) if isinstance(command, Reassign) and command.person else ()
            rules = self.rulebook(roster, extra) if isinstance(command, PAGING_COMMANDS) else Rulebook(
                self.config.urgency)
            return decide(current, command, policy, roster, now, hold, rules)

        return self.store.apply(incident_id, run)

    def rulebook(self, roster: Roster, extra: tuple[str, ...] = ()) -> Rulebook:
        """The personal rules of everyone ``roster`` names (and ``extra``), for ``decide``."""
        people = {p for names in roster.values() for p in names} | set(extra)
        return Rulebook(self.config.urgency, self.rules.of(sorted(people)) if people else {})

    def hold(self, alerts, now: datetime, maintenance_version: str | None = None) -> Hold | None:
        """A maintenance window holding these alerts' pages at ``now``, if any
        (``maintenance_version``: just read, so cached windows of that version will do)."""
        windows = (self.maintenance.all() if maintenance_version is None
                   else self.maintenance.at_version(maintenance_version))
        return hold_for(list(alerts), windows, now)
