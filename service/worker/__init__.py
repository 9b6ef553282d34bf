"""The worker process: the clock loop that hands due work to RQ, RQ's job entry
points, and the process that runs them."""
