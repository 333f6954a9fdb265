"""Server settings: Azure ML env vars, mlkube's own, CLI flags on top."""

from __future__ import annotations

import pytest

from mlkube.errors import ValidationError
from mlkube.server.settings import ServerSettings

SEED_ENV = {
    "AZUREML_MODEL_DIR": "/var/azureml-app/azureml-models/iris/1",
    "AML_APP_ROOT": "/var/azureml-app",
    "AZUREML_ENTRY_SCRIPT": "src/score.py",
    "SERVER_PORT": "31311",
    "WORKER_COUNT": "2",
    "SCORING_TIMEOUT_MS": "5000",
    "AML_CORS_ORIGINS": "https://a.example, https://b.example",
    "MLKUBE_BATCHING": "true",
}


def test_azure_env_vars_configure_the_server():
    settings = ServerSettings.from_env(SEED_ENV)
    assert settings.entry_script_path == "/var/azureml-app/src/score.py"
    assert (settings.port, settings.workers, settings.scoring_timeout_ms) == (31311, 2, 5000)
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.batching is True
    assert settings.host == "127.0.0.1"


def test_flags_override_env_and_none_flags_do_not():
    settings = ServerSettings.from_env(SEED_ENV, port=9000, workers=None, host="0.0.0.0")
    assert (settings.port, settings.workers, settings.host) == (9000, 2, "0.0.0.0")


def test_settings_round_trip_through_env_for_worker_processes():
    settings = ServerSettings.from_env(SEED_ENV, max_batch_wait_ms=1.5)
    assert ServerSettings.from_env(settings.to_env()) == settings


def test_bad_env_value_names_the_variable():
    with pytest.raises(ValidationError, match="SERVER_PORT='http'"):
        ServerSettings.from_env({**SEED_ENV, "SERVER_PORT": "http"})


def test_nothing_to_serve_says_what_to_pass():
    with pytest.raises(ValidationError) as caught:
        ServerSettings.from_env({})
    assert "--model-dir" in (caught.value.hint or "")


def test_out_of_range_values_are_refused():
    with pytest.raises(ValidationError, match="workers=0"):
        ServerSettings.from_env(SEED_ENV, workers=0)
