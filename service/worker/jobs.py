"""RQ job entry points. A worker's clock loop (service/worker/due.py) enqueues ``due`` for each
entry of the due index it claimed; the handoff messages enqueue ``notice``. The running
context (``context``) is the worker's Herald, set once as it starts."""
from __future__ import annotations

from service.worker.due import run_beside, run_claimed
from service.engine.runtime import Herald
from service.settings import Settings

_herald: Herald | None = None
#: Followers' entries run beside the RQ loop (a long-running worker); a ``--burst`` worker
#: runs them in the job itself, or it would exit with their deliveries half done.
_beside = True


def set_context(herald: Herald, *, beside: bool = True) -> None:
    global _herald, _beside
    _herald, _beside = herald, beside


def context() -> Herald:
    global _herald
    if _herald is None:
        _herald = Herald.from_settings(Settings())
    return _herald


def due(member: str) -> int:
    """Run one claimed entry of the due index (an incident's due work, a periodic task; a
    follower's entry runs beside the RQ loop, in its sink's own threads)."""
    if _beside and member.startswith(("follow:", "handoffs:")):
        run_beside(context(), member)
        return 0
    return run_claimed(context(), member)


def notice(ref: str, person_id: str, title: str, text: str, link: str = "") -> str:
    from service.engine.notices import send_notice

    return send_notice(context(), ref, person_id, title, text, link)
