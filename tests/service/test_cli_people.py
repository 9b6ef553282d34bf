"""``herald people list|export|import`` against a real Redis (docs/people.md)."""
from __future__ import annotations

import json

import redis

from service.cli.main import main
from service.engine import people


def test_export_then_import_on_an_empty_instance_brings_everything_back(herald, settings, tmp_path, capsys):
    added = people.add_contact(herald, "alice", "phone", "+15550100077")
    people.set_rules(herald, "bob", {"high": [{"channel": "voice", "delay_minutes": 0}]})
    out = tmp_path / "people.json"
    assert main(["people", "export", "--output", str(out)]) == 0
    exported = json.loads(out.read_text())
    assert exported["format"] == "herald-people/1"
    assert [c["address"] for c in exported["people"]["alice"]["contacts"]] == [
        "+15550100001", "alice@example.com", "+15550100077"]

    redis.Redis.from_url(settings.redis_url).flushall()
    assert people.contacts(herald, "alice")[-1].address == "alice@example.com"  # nothing stored: the seed
    assert main(["people", "import", str(out)]) == 0
    assert capsys.readouterr().out.strip() == "imported 4 people: 9 contacts, 1 with rules"
    assert people.contact(herald, "alice", added.id).state == "unverified"
    assert people.rules(herald, "bob") == {"high": [{"channel": "voice", "delay_minutes": 0}], "low": []}


def test_list_shows_every_contact_with_its_state(herald, capsys):
    herald.paging.set_opted_out("+15550100002", True)
    assert main(["people", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PERSON", "KIND", "ADDRESS", "STATE", "PAGED", "SOURCE"]
    assert lines[1].split() == ["alice", "phone", "+15550100001", "unverified", "yes", "config"]
    assert ["bob", "phone", "+15550100002", "opted_out", "yes", "config"] in [line.split() for line in lines]


def test_a_wrong_import_writes_nothing_and_says_where(herald, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "herald-people/1", "people": {
        "alice": {"contacts": [{"kind": "email", "address": "alice@new.example"}]},
        "zed": {"contacts": []}}}))
    assert main(["people", "import", str(bad)]) == 1
    assert capsys.readouterr().err.strip() == (
        "herald people import: people.zed: no person with id 'zed' in the configuration file")
    assert [c.address for c in people.contacts(herald, "alice")] == ["+15550100001", "alice@example.com"]
    (tmp_path / "broken.json").write_text("{")
    assert main(["people", "import", str(tmp_path / "broken.json")]) == 1
    assert "not valid JSON" in capsys.readouterr().err
