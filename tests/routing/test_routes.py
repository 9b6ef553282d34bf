import pytest
import yaml

from routing.routes import build_route, policies_for

TREE = yaml.safe_load("""
policy: default
routes:
  - matchers: ['team="db"']
    policy: database
    routes:
      - matchers: ['severity="critical"', 'env="prod"']
        policy: database-critical
  - matchers: ['team=~"sec.*"']
    policy: security
    continue: true
  - matchers: ['service="payments"']
    policy: payments
  - matchers: ['service="payments"']
    policy: never-reached
""")

CASES = [
    ({"team": "web"}, ["default"]),  # nothing matches: the root is the default
    ({"team": "db"}, ["database"]),
    ({"team": "db", "severity": "critical", "env": "prod"}, ["database-critical"]),
    ({"team": "db", "severity": "critical", "env": "dev"}, ["database"]),  # child misses: parent answers
    ({"team": "security", "service": "payments"}, ["security", "payments"]),  # continue
    ({"team": "security"}, ["security"]),
    ({"service": "payments"}, ["payments"]),  # first match wins
    ({}, ["default"]),
]


@pytest.mark.parametrize("labels,expected", CASES)
def test_route_tree(labels, expected):
    assert policies_for(build_route(TREE), labels) == expected


def test_children_inherit_the_parent_policy():
    root = build_route(yaml.safe_load("""
policy: default
routes:
  - matchers: ['team="db"']
    routes: [{matchers: ['env="prod"']}]
"""))
    assert policies_for(root, {"team": "db", "env": "prod"}) == ["default"]


def test_root_without_policy_is_rejected():
    with pytest.raises(ValueError, match="root route must name a policy"):
        build_route({"routes": []})


def test_bad_matcher_in_tree_is_rejected():
    with pytest.raises(ValueError, match="cannot parse matcher"):
        build_route({"policy": "p", "routes": [{"matchers": ["no operator"], "policy": "q"}]})
