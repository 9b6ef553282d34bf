"""Loaded by every Python process of ``make test-future`` (through PYTHONPATH), never
otherwise: works around two bugs of Debian's libfaketime 0.9.10 so that the whole suite
can run with the wall clock moved.

- With the monotonic clock faked too, a timed wait (``threading.Event.wait``,
  ``Queue.get(timeout=)``) waits the whole offset; so make test-future keeps the
  monotonic clock real (``FAKETIME_DONT_FAKE_MONOTONIC=1``).
- In that mode ``clock_nanosleep`` with an absolute deadline fails with EINVAL, which is
  what ``time.sleep`` (and ``Popen.wait(timeout=)``, which sleeps) uses. Here ``time.sleep``
  waits in ``select`` instead, which takes a relative timeout and works.
"""
import select
import time

_real_sleep = time.sleep


def _select_sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


_select_sleep.faketime_shim = True  # type: ignore[attr-defined]
time.sleep = _select_sleep
