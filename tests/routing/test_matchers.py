import pytest

from routing.matchers import MatcherError, parse_matcher

CASES = [
    # matcher, labels, expected
    ('service="db"', {"service": "db"}, True),
    ('service="db"', {"service": "dbx"}, False),
    ("service=db", {"service": "db"}, True),  # unquoted value
    ('service!="db"', {"service": "web"}, True),
    ('service!="db"', {}, True),  # missing label is the empty string
    ('service=""', {}, True),
    ('service=~"db|cache"', {"service": "cache"}, True),
    ('service=~"db"', {"service": "db-replica"}, False),  # anchored at both ends
    ('service!~"db.*"', {"service": "db-replica"}, False),
    ('service!~"db.*"', {"service": "web"}, True),
    ('msg="a \\"quoted\\" word"', {"msg": 'a "quoted" word'}, True),
    ('  team = "sre"  ', {"team": "sre"}, True),
]


@pytest.mark.parametrize("text,labels,expected", CASES)
def test_matcher_table(text, labels, expected):
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["", "service", '1abc="x"', 'service=="db"x"', 'service=~"("', 'a="unbalanced'])
def test_bad_matchers_are_rejected_with_a_reason(text):
    with pytest.raises(MatcherError) as err:
        parse_matcher(text)
    assert str(err.value)


def test_compiled_matchers_are_memoised_and_validated_says_what_is_wrong():
    from routing.matchers import compiled, validated

    assert compiled(('service="db"',)) is compiled(('service="db"',))
    assert validated(['a=~"x"']) == ['a=~"x"']
    with pytest.raises(ValueError, match="invalid regular expression"):
        validated(['a=~"("'])
