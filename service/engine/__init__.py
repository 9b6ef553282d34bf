"""The running Herald, shared by the API and the worker: the runtime object and the
one path every incident change takes, ingest, delivery, replies, heartbeats and
the messages Herald sends. Imports neither ``service.api`` nor ``service.worker.process``."""
