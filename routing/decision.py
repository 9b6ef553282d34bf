"""What ``decide`` returns: the new incident and the effects to carry out."""
from __future__ import annotations

from dataclasses import dataclass, field

from routing.incident import AlertState, Effect, Incident


@dataclass
class Decision:
    incident: Incident | None
    effects: list[Effect] = field(default_factory=list)
    changed: bool = False
    early: bool = False  # an escalation timer that fired before its due time
    # Whole alerts that left the hot record (resolved, kept in the incident's alert hash,
    # written with the commit) by fingerprint; None: remove it from the hash.
    archive: dict[str, AlertState | None] = field(default_factory=dict)
