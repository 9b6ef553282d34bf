from __future__ import annotations

import pytest

from service.settings import Settings
from tests.herald_env import env_for, write_config


@pytest.fixture
def settings(tmp_path, redis_url, monkeypatch) -> Settings:
    for key, value in env_for(write_config(tmp_path / "conf"), redis_url, "https://herald.test").items():
        monkeypatch.setenv(key, value)
    return Settings()
