"""Who is on call: each tier's people at an instant, from the rotations.

The one lookup every path uses (decisions, the API, ``herald oncall``, the console):
a tier backed by a schedule takes the people its rotation puts on the schedule's tier at
that instant (handoffs are already folded into the rotation); a tier of fixed people
takes them. Pure: the rotations are built and kept current by the calendar adapter.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from schedules.rotation import Rotation


class TierLike(Protocol):
    """What the lookup needs of a policy tier (``routing.policy.Tier`` is one)."""

    name: str
    schedule: str | None
    schedule_tier: str | None
    people: tuple[str, ...]


def on_call(tiers: Iterable[TierLike], rotations: Mapping[str, Rotation], at: datetime) -> dict[str, tuple[str, ...]]:
    """Each tier's name -> who is on call for it at ``at``, in shift order, without repeats.
    A tier whose schedule has no rotation (not loaded) has nobody; so has a gap."""
    out: dict[str, tuple[str, ...]] = {}
    for tier in tiers:
        if tier.schedule:
            rotation = rotations.get(tier.schedule)
            shifts = rotation.oncall(tier.schedule_tier or "", at) if rotation else ()
            out[tier.name] = tuple(dict.fromkeys(s.person for s in shifts))
        else:
            out[tier.name] = tuple(tier.people)
    return out
