"""What-if runs behind the proposals in docs/performance.md: each measures a change to
core code *without* making it (a variant process started from here), side by side with
the real thing in the same run. Not part of ``make bench``."""
