"""The studio in a real browser (Debian's Chromium, driven by Playwright), as a user
goes through it: open the printed URL, register a model, deploy it with no scoring
script, test it, split traffic 50/50 (checked through the gateway), reveal and copy a
key, read a failing deployment's cause, delete the endpoint.

One story over one endpoint: the steps run in order and share the browser page. No
page may log a JavaScript error; each page's screenshot is written to
``test-artifacts/studio/``.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from mlkube.entities.code_configuration import CodeConfiguration
from mlkube.entities.deployment_settings import ProbeSettings
from mlkube.entities.job import command
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import ManagedOnlineDeployment
from mlkube.errors import DeploymentFailedError, ResourceNotFoundError
from mlkube.operations.client import MLClient
from mlkube.operations.poller import LROPoller
from tests.studio.conftest import Studio

ENDPOINT = "studio-iris"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "studio"
#: A deployment's create: environment check, instance start, readiness.
DEPLOY_TIMEOUT_MS = 240_000
SPLIT_REQUESTS = 200


class Story:
    """What the steps share: the page, the JavaScript errors seen, the failing deployment."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.broken: LROPoller[Any] | None = None
        page.on("console", lambda message: self.errors.append(
            f"console {message.type}: {message.text} ({page.url})")
            if message.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error} "
                                                              f"({page.url})"))

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def story(studio: Studio) -> Iterator[Story]:
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      base_url=studio.base)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=studio.base)
        context.set_default_timeout(20_000)
        yield Story(context.new_page())
        context.close()
        browser.close()


@pytest.fixture(autouse=True)
def no_javascript_errors(story: Story) -> Iterator[None]:
    yield
    errors, story.errors[:] = list(story.errors), []
    assert errors == []


@pytest.fixture(scope="module", autouse=True)
def endpoint_removed(ml_client: MLClient) -> Iterator[None]:
    yield
    try:
        ml_client.online_endpoints.begin_delete(ENDPOINT, progress=None).result()
    except ResourceNotFoundError:
        pass  # the last step deleted it, as it should


def test_the_printed_url_signs_in_and_drops_the_token(story: Story, studio: Studio) -> None:
    page = story.page
    page.goto(studio.url)
    assert page.url == f"{studio.base}/endpoints"
    assert page.locator("h1").inner_text() == "Endpoints"
    assert page.locator("nav a").all_inner_texts() == ["Models", "Jobs", "Endpoints", "Deploy"]
    story.shot("endpoints-empty")


@pytest.fixture(scope="module")
def training_job(ml_client: MLClient) -> str:
    """A small command job that logs a parameter and a metric, submitted early: it runs
    while the model is registered and deployed."""
    job = command(
        command="python -c \"import mlflow; mlflow.log_param('alpha', 0.5); "
                "mlflow.log_metric('rmse', 0.25); print('training done')\"",
        experiment_name="studio-story", display_name="studio training")
    return str(ml_client.jobs.create_or_update(job).name)


def test_register_a_model_from_the_models_page(story: Story, iris_lgbm_model_root: Path,
                                                training_job: str) -> None:
    page = story.page
    page.goto("/models")
    page.fill("input[name=name]", "iris")
    page.fill("input[name=path]", str(iris_lgbm_model_root / "model"))
    page.click("#register-form button[type=submit]")
    page.wait_for_selector("#registered-link")
    assert "Registered iris version 1" in page.inner_text("#register-result")
    page.click("#registered-link")
    page.wait_for_url("**/models/iris?version=1")
    assert page.locator("dl.facts").inner_text().count("lightgbm") == 1
    signature = page.inner_text("#signature")
    for column in ("sepal_length", "sepal_width", "petal_length", "petal_width"):
        assert column in signature
    assert "sepal_length" in page.inner_text("#input-example")
    page.click("#doctor-run")
    page.wait_for_function(
        "!document.getElementById('doctor-findings').textContent.includes('Checking')")
    assert "Error:" not in page.inner_text("#doctor-findings")
    story.shot("model")
    page.goto("/models")
    assert page.locator("#models tbody tr").count() == 1
    story.shot("models")


def _deploy(page: Any, *, deployment: str, traffic: str) -> None:
    page.goto("/deploy?model=iris:1")
    assert page.input_value("select[name=model]") == "iris:1"
    page.fill("input[name=endpoint_name]", ENDPOINT)
    page.select_option("select[name=compute]", "local")
    page.fill("input[name=deployment_name]", deployment)
    page.check(f"input[name=traffic][value={traffic}]")
    page.click("#deploy-submit")
    page.wait_for_function("document.getElementById('deploy-state').textContent !== "
                           "'Running'", timeout=DEPLOY_TIMEOUT_MS)
    log = page.inner_text("#deploy-log")
    assert page.inner_text("#deploy-state") == "Succeeded", (
        log, page.inner_text("#deploy-outcome"))
    assert f"preparing deployment {deployment} of {ENDPOINT}" in log
    assert f"deployment {deployment} of {ENDPOINT} is ready" in log


def test_deploy_from_the_deploy_page_to_a_local_endpoint(story: Story) -> None:
    page = story.page
    _deploy(page, deployment="blue", traffic="all")
    story.shot("deploy")
    page.click("#deploy-endpoint-link")
    page.wait_for_url(f"**/endpoints/{ENDPOINT}")
    assert page.inner_text("#endpoint-state") == "Succeeded"
    assert page.inner_text("#endpoint-target") == "local"
    row = page.locator('#deployments tr[data-deployment="blue"]')
    assert row.locator("[data-field=state]").inner_text() == "Succeeded"
    assert "iris:1" in row.inner_text() and "no code (MLflow)" in row.inner_text()
    assert page.input_value('input[name=traffic][data-deployment="blue"]') == "100"


def test_the_test_page_sends_the_input_example_and_shows_the_prediction(
        story: Story, ml_client: MLClient, studio_workspace: Path, tmp_path: Path,
        iris_lgbm_model_root: Path) -> None:
    # The failing deployment starts now and fails in the background while this runs.
    story.broken = _start_broken_deployment(ml_client, iris_lgbm_model_root, tmp_path)
    page = story.page
    page.goto(f"/endpoints/{ENDPOINT}/test")
    body = json.loads(page.input_value("#test-body"))
    assert body["input_data"]["columns"][0] == "sepal_length"
    page.click("#test-send")
    page.wait_for_function("document.getElementById('test-status').textContent === '200'")
    prediction = json.loads(page.inner_text("#test-response"))
    assert len(prediction) == len(body["input_data"]["data"]) == 2
    assert all(len(row) == 3 and abs(sum(row) - 1) < 1e-6 for row in prediction)
    assert page.inner_text("#test-answered-by") == "blue"
    assert re.fullmatch(r"\d+(\.\d)? ms", page.inner_text("#test-latency"))
    story.shot("test")


def test_the_jobs_pages_show_status_params_metrics_and_log(story: Story,
                                                          training_job: str) -> None:
    page = story.page
    page.goto("/jobs")
    row = page.locator("#jobs tbody tr", has_text=training_job)
    assert "studio training" in row.inner_text() and "studio-story" in row.inner_text()
    story.shot("jobs")
    row.locator("a").click()
    page.wait_for_url(f"**/jobs/{training_job}")
    page.wait_for_function("document.getElementById('job-status').textContent === "
                           "'Completed'", timeout=DEPLOY_TIMEOUT_MS)
    page.wait_for_function("document.getElementById('job-log').textContent"
                           ".includes('training done')")
    page.reload()  # parameters and metrics are read when the page is rendered
    assert "alpha" in page.inner_text("#params") and "0.5" in page.inner_text("#params")
    assert "rmse" in page.inner_text("#metrics") and "0.25" in page.inner_text("#metrics")
    story.shot("job")


def _start_broken_deployment(ml_client: MLClient, model_root: Path,
                             tmp_path: Path) -> LROPoller[Any]:
    code = tmp_path / "broken"
    code.mkdir()
    (code / "score.py").write_text(
        "def init():\n    raise RuntimeError('weights file is corrupt')\n\n"
        "def run(raw_data):\n    return raw_data\n")
    return ml_client.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="broken", endpoint_name=ENDPOINT, model=Model(path=str(model_root / "model")),
        code_configuration=CodeConfiguration(code=str(code), scoring_script="score.py"),
        readiness_probe=ProbeSettings(initial_delay=1, period=1, failure_threshold=5)),
        progress=None)


def test_the_traffic_editor_refuses_other_totals_and_splits_50_50(
        story: Story, ml_client: MLClient) -> None:
    page = story.page
    _deploy(page, deployment="green", traffic="none")
    page.goto(f"/endpoints/{ENDPOINT}")
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url)
            if request.url.endswith("/traffic") else None)
    page.fill('input[name=traffic][data-deployment="blue"]', "60")
    page.fill('input[name=traffic][data-deployment="green"]', "30")
    page.click("#traffic-save")
    assert "adds up to 90%; it must total 100%" in page.inner_text("#traffic-message")
    assert page.inner_text("#traffic-total") == "90%"
    assert sent == []  # refused in the page: nothing was sent
    assert ml_client.online_endpoints.get(ENDPOINT).traffic["blue"] == 100
    page.fill('input[name=traffic][data-deployment="blue"]', "50")
    page.fill('input[name=traffic][data-deployment="green"]', "50")
    page.click("#traffic-save")
    page.wait_for_function(
        "document.getElementById('traffic-message').textContent.startsWith('Saved')")
    assert page.inner_text("#traffic-message") == "Saved: blue 50%, green 50%"
    assert len(sent) == 1
    endpoint = ml_client.online_endpoints.get(ENDPOINT)
    assert {d: p for d, p in endpoint.traffic.items() if p} == {"blue": 50, "green": 50}
    # Through the gateway, with the endpoint's key: who answered each request.
    key = ml_client.online_endpoints.get_keys(ENDPOINT).primary_key
    answered: Counter[str] = Counter()
    with httpx.Client(trust_env=False, timeout=30) as http:
        for _ in range(SPLIT_REQUESTS):
            response = http.post(endpoint.scoring_uri or "", json={
                "data": [[5.1, 3.5, 1.4, 0.2]]}, headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 200, response.text
            answered[response.headers["azureml-model-deployment"]] += 1
    assert set(answered) == {"blue", "green"}
    # 50/50 over 200 draws: each side within 4.2 standard deviations of 100.
    assert all(70 <= count <= 130 for count in answered.values()), answered
    # The charts draw the gateway's figures: both deployments, after two scrapes.
    page.wait_for_function(
        "document.querySelectorAll('#chart-rps .u-series').length >= 3", timeout=15_000)
    legend = page.inner_text("#chart-rps")
    assert "blue" in legend and "green" in legend
    story.shot("endpoint")


def test_reveal_and_copy_a_key(story: Story, ml_client: MLClient) -> None:
    page = story.page
    keys = ml_client.online_endpoints.get_keys(ENDPOINT)
    assert keys.primary_key not in page.content()
    page.click('#keys .key-row:first-child [data-reveal]')
    page.wait_for_selector("#key-primary_key.revealed")
    assert page.inner_text("#key-primary_key") == keys.primary_key
    page.click('#keys button.copy[data-copy-from="key-primary_key"]')
    page.wait_for_function("document.querySelector('[data-copy-from=\"key-primary_key\"]')"
                           ".textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == keys.primary_key
    story.shot("endpoint-keys")
    # Regenerating asks first; Cancel keeps the key, Confirm replaces it.
    page.click('[data-regenerate="secondary"]')
    assert "The current secondary key stops working" in page.inner_text("#confirm-text")
    page.click("#confirm-dialog button[value=cancel]")
    assert ml_client.online_endpoints.get_keys(ENDPOINT).secondary_key == keys.secondary_key
    page.click('[data-regenerate="secondary"]')
    page.click("#confirm-ok")
    page.wait_for_function("document.getElementById('key-secondary_key').textContent"
                           ".includes('regenerated')")
    after = ml_client.online_endpoints.get_keys(ENDPOINT)
    assert after.secondary_key != keys.secondary_key
    assert after.primary_key == keys.primary_key
    assert after.secondary_key not in page.content()


def test_a_failing_deployment_shows_its_cause_on_the_endpoint_page(story: Story) -> None:
    assert story.broken is not None
    with pytest.raises(DeploymentFailedError):
        story.broken.result(timeout=DEPLOY_TIMEOUT_MS / 1000)
    page = story.page
    page.goto(f"/endpoints/{ENDPOINT}")
    row = page.locator('#deployments tr[data-deployment="broken"]')
    assert row.locator("[data-field=state]").inner_text() == "Failed"
    cause = page.inner_text('[data-failure-of="broken"] .failure')
    assert "RuntimeError" in cause and "weights file is corrupt" in cause
    page.select_option("#log-deployment", "broken")
    page.wait_for_function("document.getElementById('deployment-log').textContent"
                           ".includes('weights file is corrupt')")
    story.shot("endpoint-failed-deployment")


def test_delete_the_endpoint_after_confirmation(story: Story, ml_client: MLClient) -> None:
    page = story.page
    page.goto(f"/endpoints/{ENDPOINT}")
    page.click("#delete-endpoint")
    assert page.is_visible("#confirm-dialog")
    assert f"Delete endpoint {ENDPOINT}" in page.inner_text("#confirm-text")
    page.click("#confirm-dialog button[value=cancel]")
    assert not page.is_visible("#confirm-dialog")
    assert ml_client.online_endpoints.get(ENDPOINT).name == ENDPOINT  # still there
    page.click("#delete-endpoint")
    page.click("#confirm-ok")
    page.wait_for_url("**/endpoints", timeout=DEPLOY_TIMEOUT_MS)
    assert ENDPOINT not in page.inner_text("main")
    with pytest.raises(ResourceNotFoundError):
        ml_client.online_endpoints.get(ENDPOINT)
