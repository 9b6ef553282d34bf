"""``herald schedules lint`` reports a person on call in the days checked with no verified
contact as a coverage problem (docs/people.md); the verification state is in Redis, so
``--offline`` does not check it and ``--skip-contacts`` leaves it out."""
from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from integrations.people_store import PeopleStore
from schedules.contacts import mark_verified
from service.cli.main import main
from tests.calendar_env import now_utc, write_schedule_config


@pytest.fixture
def conf(tmp_path, redis_url, monkeypatch):
    monkeypatch.setenv("HERALD_REDIS_URL", redis_url)
    return write_schedule_config(tmp_path / "conf")


@pytest.fixture
def store(redis_url):
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    c.set("herald:calendars:version", "1")  # Herald data: lint says nothing about some other Redis
    yield PeopleStore(c)
    c.close()


def _verify(store, conf, person: str, address: str) -> None:
    from integrations.config.model import load_config

    config = load_config(conf)
    store.update(config.people[person], lambda rec: mark_verified(rec, address, now_utc() - timedelta(days=1)))


def test_everyone_on_call_with_only_seeded_contacts_is_a_problem(conf, store, capsys):
    assert main(["schedules", "lint", "--config", str(conf), "--schedule", "primary"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(": OK")  # the calendar itself is fine
    assert out[1] == "contacts (1 people on call, next 30 days): 1 problem"
    assert out[2].startswith("  unverified_contact alice (Alice Adams): on call (primary L1) now with no verified "
                             "contact (")
    assert "unverified" in out[2]


def test_a_verified_contact_clears_it_and_every_tier_counts_without_schedule(conf, store, capsys):
    _verify(store, conf, "alice", "alice@example.com")
    assert main(["schedules", "lint", "--config", str(conf), "--schedule", "primary"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "contacts (1 people on call, next 30 days): OK"
    code = main(["schedules", "lint", "--config", str(conf), "--skip-contacts", "--schedule", "primary"])
    assert code == 0 and "contacts" not in capsys.readouterr().out
    assert main(["schedules", "lint", "--config", str(conf)]) == 1  # every schedule, and the tiers' people
    out = capsys.readouterr().out
    assert "contacts (3 people on call, next 30 days): 2 problems" in out
    assert "  unverified_contact erin (Erin Engel): on call (policy default tier engineering) now" in out
    assert "unverified_contact bob (Bob Brown): on call (backup L2) now" in out and "unverified_contact alice" not in out


def test_a_verified_contact_that_opted_out_still_counts_and_offline_does_not_check(conf, store, capsys):
    _verify(store, conf, "alice", "+15550100001")
    store.redis.set("herald:optout:+15550100001", "1")  # what a STOP reply leaves
    assert main(["schedules", "lint", "--config", str(conf), "--schedule", "primary"]) == 1
    assert "phone opted_out" in capsys.readouterr().out
    assert main(["schedules", "lint", "--config", str(conf), "--schedule", "primary", "--offline"]) == 0
    captured = capsys.readouterr()
    assert "contacts" not in captured.out and captured.err == ""
