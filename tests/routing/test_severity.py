import pytest

from routing.severity import SeverityMapping, most_severe

DEFAULT = SeverityMapping()


@pytest.mark.parametrize("labels,expected", [
    ({"severity": "critical"}, "P1"),
    ({"severity": "warning"}, "P2"),
    ({"severity": "info"}, "P3"),
    ({"severity": "CRITICAL"}, "P1"),  # case-insensitive
    ({"severity": "critical", "priority": "P0"}, "P0"),  # priority wins
    ({"severity": "info", "priority": "p1"}, "P1"),
    ({"severity": "critical", "priority": "urgent"}, "P1"),  # invalid priority is ignored
    ({}, "P2"),  # unknown: the default
    ({"severity": "page-me"}, "P2"),
])
def test_default_mapping(labels, expected):
    assert DEFAULT.of(labels) == expected


def test_custom_mapping():
    mapping = SeverityMapping(label="level", values={"sev1": "P0", "sev2": "P1"}, default="P3")
    assert mapping.of({"level": "sev1"}) == "P0"
    assert mapping.of({"severity": "critical"}) == "P3"


def test_mapping_to_unknown_severity_is_rejected():
    with pytest.raises(ValueError, match="severity must be one of"):
        SeverityMapping(values={"critical": "P9"})


def test_most_severe():
    assert most_severe(["P3", "P1", "P2"]) == "P1"
    with pytest.raises(ValueError):
        most_severe([])
