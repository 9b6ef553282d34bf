"""Adapters to the outside world: Redis store, RQ timers, Twilio, SendGrid, console."""
