"""The route tree: which escalation policy an alert group goes to.

Alertmanager's semantics: the root route matches everything and is the default;
children are tried in order, the first that matches wins unless it sets
``continue``, in which case later siblings are tried as well; a matching node whose
children match nothing is itself the answer.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from routing.matchers import Matcher, all_match, parse_matchers


@dataclass(frozen=True)
class Route:
    policy: str
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple["Route", ...] = field(default_factory=tuple)
    name: str = ""

    def match(self, labels: Mapping[str, str]) -> list["Route"]:
        """Every route that takes these labels, in order; never empty for the root."""
        if not all_match(self.matchers, dict(labels)):
            return []
        found: list[Route] = []
        for child in self.routes:
            matched = child.match(labels)
            if matched:
                found.extend(matched)
                if not child.continue_:
                    break
        return found or [self]

    def walk(self, depth: int = 0):
        yield depth, self
        for child in self.routes:
            yield from child.walk(depth + 1)


def build_route(spec: Mapping[str, Any], inherited_policy: str | None = None) -> Route:
    """Build a route from its config mapping; children inherit the parent's policy."""
    policy = spec.get("policy") or inherited_policy
    if not policy:
        raise ValueError("the root route must name a policy")
    children = tuple(build_route(child, policy) for child in spec.get("routes") or ())
    return Route(
        policy=policy,
        matchers=parse_matchers(spec.get("matchers")),
        continue_=bool(spec.get("continue", False)),
        routes=children,
        name=str(spec.get("name", "")),
    )


def policies_for(root: Route, labels: Mapping[str, str]) -> list[str]:
    """The distinct policies the labels route to, in match order."""
    seen: list[str] = []
    for route in root.match(labels):
        if route.policy not in seen:
            seen.append(route.policy)
    return seen
