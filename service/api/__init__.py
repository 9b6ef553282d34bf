"""The HTTP API: the FastAPI app, its routes under ``/api/v1`` and the provider
callbacks, the guards in front of them and the server that runs them."""
