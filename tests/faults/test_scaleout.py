"""Scale-out through a Redis failover, small: 2 ``herald serve`` and 3 ``herald worker``
processes reach Redis only through three Sentinels; 40 webhooks of 5 alerts (each a new
incident that pages one person by SMS) go to both APIs, re-sent until answered 2xx as
Alertmanager does, and the primary's redis-server is SIGKILLed once half the incidents
exist. Every alert answered 2xx is stored, and no page goes out twice or not at all.
``bench/scaleout.py`` runs the same at 10,000 alerts (``python -m bench.run --only scaleout``)."""
from __future__ import annotations

import pytest

from bench.scaleout import QUICK, run_storm

pytestmark = pytest.mark.slow


def test_a_primary_killed_mid_storm_loses_no_acknowledged_alert_and_sends_no_page_twice(tmp_path):
    size = {**QUICK, "webhooks": 40, "alerts_per_webhook": 5}
    out = run_storm(size, tmp_path, log=lambda text: None)
    assert out["incidents_created_after_kill"] > 0  # the failover came in the middle, not after
    assert out["webhooks_acked"] == size["webhooks"]  # every sender got its 2xx in the end
    assert out["alerts_lost"] == 0, f"acknowledged, then lost: webhooks {out['lost_webhook_seqs']}"
    assert out["duplicate_pages"] == 0, f"sent twice: {out['duplicates']}\n{out['logs']}"
    assert out["lost_pages"] == 0, f"never paged: incidents {out['lost_page_incidents']}\n{out['logs']}"
