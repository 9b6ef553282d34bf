"""The people gauges on /metrics (docs/operating.md): contacts by kind and state, people with
no verified contact, and those on call now."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from service.engine import people
from tests.service.sim_stack import ALICE


def _scrape(client) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def _verified(herald, person: str) -> None:
    exported = people.export(herald)["people"][person]
    for contact in exported["contacts"]:
        contact["verified_at"] = herald.clock().isoformat()
    people.import_people(herald, {"format": "herald-people/1", "people": {person: exported}})


def test_seeded_contacts_count_as_unverified_and_everyone_on_call_is_a_problem(client, herald):
    found = _scrape(client)
    assert found[("herald_contacts", (("kind", "phone"), ("state", "unverified")))] == 4
    assert found[("herald_contacts", (("kind", "email"), ("state", "verified")))] == 0
    assert found[("herald_people_unverified", ())] == 4
    assert found[("herald_oncall_unverified", ())] == 4  # alice, bob by calendar; erin, dave by their tiers


def test_verifying_moves_the_counts_and_stop_shows_as_opted_out(client, herald):
    _verified(herald, "alice")
    herald.paging.set_opted_out(ALICE, True)  # what a STOP reply does
    found = _scrape(client)
    assert found[("herald_contacts", (("kind", "email"), ("state", "verified")))] == 1
    assert found[("herald_contacts", (("kind", "phone"), ("state", "opted_out")))] == 1
    assert found[("herald_contacts", (("kind", "phone"), ("state", "unverified")))] == 3
    assert found[("herald_oncall_unverified", ())] == 3  # alice's verified email still reaches her


def test_a_person_whose_only_verified_contact_opted_out_is_unreachable(client, herald):
    exported = people.export(herald)["people"]["alice"]
    exported["contacts"] = [dict(c, verified_at=herald.clock().isoformat()) for c in exported["contacts"]
                            if c["kind"] == "phone"]
    people.import_people(herald, {"format": "herald-people/1", "people": {"alice": exported}})
    assert _scrape(client)[("herald_oncall_unverified", ())] == 3
    herald.paging.set_opted_out(ALICE, True)
    assert _scrape(client)[("herald_oncall_unverified", ())] == 4
