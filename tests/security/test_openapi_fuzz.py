"""schemathesis against Herald's own OpenAPI schema: every operation, generated inputs
(valid and not), with an admin token and with none — against the ASGI app on a real
Redis. No answer may be a 5xx, and every answer must match the schema it documents.
Bounded (a fixed seed, ``MAX_EXAMPLES`` per operation and mode, each sent twice: with
the token and without) to stay within seconds: every operation is still generated for,
valid and invalid, authenticated and not."""
from __future__ import annotations

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from service.app import create_app
from service.runtime import Herald
from service.settings import Settings
from tests.herald_env import API_TOKEN, env_for, write_config

MAX_EXAMPLES = 8


@pytest.fixture(scope="module")
def herald_schema(tmp_path_factory, redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    env = env_for(write_config(tmp_path_factory.mktemp("fuzz") / "conf"), redis_server.url, "https://herald.test")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        app_settings = Settings()
    herald = Herald.from_settings(app_settings)
    app = create_app(app_settings, herald)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    close = getattr(herald.calendars, "close", None)
    if close is not None:
        close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_server_errors_and_answers_match_the_schema(herald_schema, mode):
    operations = [result.ok() for result in herald_schema.get_all_operations()]
    assert len(operations) >= 30
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:
            for headers in ({"Authorization": f"Bearer {API_TOKEN}"}, {}):
                case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

        try:
            fuzz()
        except Unsatisfiable:  # nothing to make invalid: no parameters, no body
            assert mode is GenerationMode.NEGATIVE, operation.label
