"""The ingest baseline: a bare FastAPI endpoint on the same uvicorn settings as
``herald serve`` that only reads the body and parses it with the same pydantic model
(``routing.alertmanager.WebhookPayload``). No auth, no Redis, no routing.

``python -m bench.bare_app --port N``
"""
from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from pydantic import ValidationError

from routing.alertmanager import WebhookPayload
from service.api.server import uvicorn_options
from service.settings import Settings


def create_app() -> FastAPI:
    app = FastAPI(title="bare")

    @app.post("/api/v1/alertmanager")
    async def receive(request: Request) -> dict:
        body = await request.body()
        try:
            payload = WebhookPayload.model_validate_json(body)
        except ValidationError:
            raise HTTPException(400, "not a webhook payload") from None
        return {"status": "parsed", "alerts": len(payload.alerts)}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The same call as service.cli.main.cmd_serve: the same protocol and limits (service/api/server.py).
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning", proxy_headers=False,
                log_config=None, **uvicorn_options(Settings()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
