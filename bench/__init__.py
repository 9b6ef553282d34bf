"""Herald's benchmarks: each figure side by side with a baseline measured in the same run.

``python -m bench.run`` (``make bench``) runs them all and writes ``bench/results/latest.json``
and ``latest.md``; ``--quick`` uses tiny sizes (the smoke test). Loopback only; every load
loop is bounded in count and in time.
"""
