"""Dev tooling, shipped with a source checkout and the image's ``dev`` target, never in
the production image: ``herald dev`` (``make run``), the provider simulator and the
private redis-server launcher."""
