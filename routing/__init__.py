"""Pure domain logic, no I/O: Alertmanager payloads, matchers and the route tree,
severity, escalation policies and the incident state machine (``decide``)."""
