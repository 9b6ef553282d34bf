"""What ``decide`` returns: the new incident and the effects to carry out."""
from __future__ import annotations

from dataclasses import dataclass, field

from routing.incident import Effect, Incident


@dataclass
class Decision:
    incident: Incident | None
    effects: list[Effect] = field(default_factory=list)
    changed: bool = False
    early: bool = False  # an escalation timer that fired before its due time
