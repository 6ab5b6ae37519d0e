"""Airflow 3's UI in Chromium, on a real deployment with the emulator as SeekrFlow (docs/ui.md).

In order, one browser session: log in; add the SeekrFlow connection through its form and test it with
``airflow connections test``; unpause and trigger the example pipeline from the UI and read the data
job's progress in its task log; then open every task's log, rendered templates and XCom and look for
the API key. Each test also runs alone (``-k``): it logs in, and the connection and the pipeline run
it needs are made through the REST API when an earlier test did not make them.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from airflow_provider_seekrflow.connection_form import EXTRA_FIELDS, HIDDEN_FIELDS, RELABELING, placeholders
from tests.system.browser.conftest import PIPELINE_DAG, USERNAME
from tests.system.browser.ui import TIMEOUT_MS
from tests.system.integration.harness import DOCUMENTS, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CONN_ID = "seekrflow_default"  # the connection the example pipeline uses
TASKS = (
    "upload_documents",
    "make_training_pairs",
    "fine_tune",
    "report_model",
    "deploy",
    "evaluate",
    "release_instances",
    "promote",
)
# A line each task's log shows once it has loaded; a template field each task renders.
LOG_MARKERS = {
    "upload_documents": "stored as file-",
    "make_training_pairs": "alignment status=completed",
    "fine_tune": "status=completed",
    "report_model": "Fine-tuned model",
    "deploy": " is Active: ",
    "evaluate": "(pass rate ",
    "release_instances": "Demoted deployment",
    "promote": " is Active: ",
}
RENDERED_FIELDS = {
    "upload_documents": "file_path",
    "make_training_pairs": "instructions",
    "fine_tune": "training_files",
    "report_model": "op_args",
    "deploy": "model_id",
    "evaluate": "prompts",
    "release_instances": "deployment_id",
    "promote": "deployment_id",
}
# What the form's extra fields are given, as typed, and as the saved connection's extra holds them.
# (verify: a CA bundle path, the form's third kind of value; the emulator is plain HTTP, so unused)
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# The web app's page of a task's object (the SeekrFlow link on the task's page, test_seekrflow_link).
CONSOLE_URL = "https://console.seekrflow.test/flow/{kind}/{id}"
EXTRA_INPUT = {
    "team_id": "team-browser",
    "timeout": "60",
    "connect_timeout": "5",
    "max_retries": "3",
    "verify": CA_BUNDLE,
    "console_url": CONSOLE_URL,
}
EXTRA_SAVED = {
    "team_id": "team-browser",
    "timeout": 60,
    "connect_timeout": 5,
    "max_retries": 3,
    "verify": CA_BUNDLE,
    "console_url": CONSOLE_URL,
}
# Airflow's own labels of the fields the provider hides or relabels.
AIRFLOW_LABELS = {
    "host": "Host",
    "password": "Password",
    "login": "Login",
    "schema": "Schema",
    "port": "Port",
}


def _expect():
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    return expect


def _labels(container) -> list[str]:
    return [re.sub(r"\s*\*?\s*$", "", text.strip()) for text in container.locator("label").all_inner_texts()]


def _extra_field(dialog, label: str):
    """The form row (label, input, help text) of one extra field.

    Airflow 3.3.2's string fields point their label's ``for`` at another id than their input's, so
    ``get_by_label`` finds the number fields only: the row is found by its label's text instead.
    """
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    return dialog.get_by_role("group").filter(has=dialog.page.locator("label", has_text=exact))


def _ensure_connection(deployment) -> None:
    if deployment.api.request("GET", f"connections/{CONN_ID}", ok=(200, 404)).get("connection_id") != CONN_ID:
        deployment.create_connection()


def _open_add_connection_form(ui, connection_id: str):
    expect = _expect()
    page = ui.page
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Add Connection")).to_be_visible()
    dialog.get_by_label("Connection ID").fill(connection_id)
    dialog.get_by_role("combobox", name="Connection Type").fill("SeekrFlow")
    page.get_by_role("option", name="SeekrFlow", exact=True).click()
    expect(dialog.get_by_label(RELABELING["password"])).to_be_visible()
    return dialog


def _open_task(ui, run_id: str, task_id: str) -> None:
    """From the run's page, click the task in its task-instance list: the task's log opens."""
    page = ui.page
    ui.goto(f"/dags/{PIPELINE_DAG}/runs/{run_id}")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=task_id, exact=True))
    row.get_by_role("link", name=task_id, exact=True).click()
    page.wait_for_url(re.compile(rf"/runs/{re.escape(run_id)}/tasks/{task_id}$"))


def test_login(ui, deployment, password):
    """The simple auth manager's login page refuses a wrong password and lets the admin in."""
    expect = _expect()
    page = ui.page
    ui.context.clear_cookies()
    ui.goto("/")
    page.wait_for_url(re.compile(r"/auth/login"))
    expect(page.get_by_text("Sign into Airflow")).to_be_visible()
    ui.shot("login")

    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(password + "-wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Invalid credentials")).to_be_visible()
    assert "/auth/login" in page.url

    ui.login(USERNAME, password)
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    for component in ("MetaDatabase", "Scheduler", "Triggerer", "Dag Processor"):
        expect(page.get_by_text(component, exact=True)).to_be_visible()
    ui.shot("home")


def test_connection_form(ui, deployment, password, figures):
    """The SeekrFlow form: relabelled, login/schema/port hidden, the extra fields; saved, then tested by the CLI."""
    expect = _expect()
    page, api, key = ui.page, deployment.api, deployment.api_key
    api.request("DELETE", f"connections/{CONN_ID}", ok=(204, 404))
    ui.ensure_logged_in(USERNAME, password)

    page.get_by_role("button", name="Admin").click()
    page.get_by_role("menuitem", name="Connections").click()
    page.wait_for_url(re.compile(r"/connections$"))
    dialog = _open_add_connection_form(ui, CONN_ID)

    # Standard fields: the provider's labels and placeholders; the hidden ones absent.
    hints = placeholders()
    host, key_field = dialog.get_by_label(RELABELING["host"]), dialog.get_by_label(RELABELING["password"])
    expect(host).to_be_visible()
    expect(host).to_have_attribute("placeholder", hints["host"])
    expect(key_field).to_have_attribute("placeholder", hints["password"])
    expect(key_field).to_have_attribute("type", "password")
    labels = _labels(dialog)
    assert {RELABELING["host"], RELABELING["password"], "Description"} <= set(labels), labels
    assert not {AIRFLOW_LABELS[f] for f in (*HIDDEN_FIELDS, *RELABELING)} & set(labels), labels
    for field in HIDDEN_FIELDS:
        expect(dialog.locator(f"input[name='{field}']")).to_have_count(0)

    ui.shot("connection form empty")  # the placeholders

    host.fill(deployment.emulator.base_url)
    key_field.fill(key)
    # Positive control: the scan finds the key where it is (the field the user typed it into).
    assert "field values" in ui.scan(key, traffic=False)
    ui.shot("connection form")

    # Extra fields: label, help text and input of each; numbers as spin buttons.
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    for field in EXTRA_FIELDS:
        row = _extra_field(dialog, field.label)
        expect(row).to_be_visible()
        expect(row).to_contain_text(field.description)
        entry = row.locator(f"input[name='element_{field.name}']")
        expect(entry).to_be_visible()
        if field.kind in ("integer", "number"):
            expect(entry).to_have_attribute("role", "spinbutton")
        entry.fill(EXTRA_INPUT[field.name])
    assert set(EXTRA_INPUT) == {field.name for field in EXTRA_FIELDS}
    ui.shot("connection extra fields")
    dialog.get_by_role("button", name="Extra Fields JSON", exact=True).click()
    expect(dialog.get_by_text('"team_id": "team-browser"')).to_be_visible()
    expect(_extra_field(dialog, EXTRA_FIELDS[0].label)).to_be_hidden()  # the accordion has closed
    ui.shot("connection extra json")

    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    row = page.get_by_role("row").filter(has_text=CONN_ID)
    expect(row).to_contain_text(deployment.emulator.base_url)
    created = page.get_by_text("Connection has been successfully created")
    expect(created).to_be_visible()
    ui.shot("connection saved")
    page.mouse.move(300, 400)  # off the toast (it appeared under the Save button): a hovered toast stays
    expect(created).to_be_hidden()  # out of the next screenshot

    saved = api.get(f"connections/{CONN_ID}")
    assert saved["conn_type"] == "seekrflow"
    assert saved["host"] == deployment.emulator.base_url
    assert (saved["login"], saved["schema"], saved["port"]) == (None, None, None)
    assert json.loads(saved["extra"]) == EXTRA_SAVED
    assert saved["password"] != key  # the API answers with a mask
    # Positive control of the traffic scan: the key went out in the form's POST.
    assert "traffic" in ui.scan(key)

    # The edit form shows a mask, never the key.
    mark = len(ui.traffic)
    row.get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label(RELABELING["password"])).to_have_value("***")
    assert ui.scan(key, traffic=False) == []
    assert not any(key in answer for answer in ui.traffic[mark:])
    ui.shot("connection edit")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # The saved connection passes `airflow connections test` (the UI's Test button answers 400 on
    # Airflow 3.3.2 for connections without a port: apache/airflow#73298), with the form's team.
    deployment.emulator.reset()
    started = time.monotonic()
    out = deployment.airflow("connections", "test", CONN_ID, timeout=300)
    figures["connections_test_s"] = round(time.monotonic() - started, 1)
    assert "Connection success!" in out, out
    assert key not in out
    journal = deployment.emulator.journal()
    assert journal, "airflow connections test sent nothing to the emulator"
    assert all(entry["team_id"] == EXTRA_SAVED["team_id"] for entry in journal), journal


def test_pipeline_from_ui(ui, deployment, password, tour, figures):
    """Unpause and trigger the example pipeline in the UI; it succeeds; the data job's log shows its progress."""
    expect = _expect()
    page, api = ui.page, deployment.api
    _ensure_connection(deployment)
    # Seconds instead of minutes (the emulator's defaults: 20 s alignment, 20 s fine-tune).
    deployment.emulator.reset(job_duration=6.0, ingestion_seconds=2.0, fine_tune_duration=6.0)
    run_id = f"ui-{int(time.time())}"
    ui.ensure_logged_in(USERNAME, password)

    page.get_by_role("link", name="Dags", exact=True).first.click()
    page.get_by_role("link", name=PIPELINE_DAG, exact=True).click()
    page.wait_for_url(re.compile(rf"/dags/{PIPELINE_DAG}$"))
    # The DAG's own switch, in its header (the list's switches may still be on the page).
    toggle = page.get_by_test_id("header-card").get_by_test_id("toggle-pause")
    if api.get(f"dags/{PIPELINE_DAG}")["is_paused"]:  # paused at creation, unless a run of -k made it active
        expect(toggle).to_have_attribute("data-state", "unchecked")
        ui.shot("pipeline paused")
        toggle.click()
    expect(toggle).to_have_attribute("data-state", "checked")
    wait_for("the UI's unpause", lambda: not api.get(f"dags/{PIPELINE_DAG}")["is_paused"], 30, 1)

    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Advanced Options").click()
    dialog.get_by_label("Run ID").fill(run_id)
    ui.shot("trigger dialog")
    started = time.monotonic()
    dialog.get_by_role("button", name="Trigger", exact=True).click()
    page.wait_for_url(re.compile(rf"/runs/{re.escape(run_id)}$"))

    state = api.wait_run(PIPELINE_DAG, run_id, timeout=360)
    figures["pipeline_run_s"] = round(time.monotonic() - started, 1)
    tis = api.task_instances(PIPELINE_DAG, run_id)
    assert state == "success", {t: ti["state"] for t, ti in tis.items()}
    assert {t: ti["state"] for t, ti in tis.items()} == dict.fromkeys(TASKS, "success")
    run = api.get(f"dags/{PIPELINE_DAG}/dagRuns/{run_id}")
    assert run["run_type"] == "manual" and run["triggering_user_name"] == USERNAME

    # The UI shows it: every task instance of the run succeeded.
    page.reload()
    for task_id in TASKS:
        task_row = page.get_by_role("row").filter(has=page.get_by_role("link", name=task_id, exact=True))
        expect(task_row).to_contain_text("Success")
    ui.shot("run succeeded")
    page.get_by_role("button", name=re.compile(r"^Show Graph")).click()
    expect(page.locator(".react-flow__node").filter(has_text="make_training_pairs")).to_be_visible()
    ui.shot("run graph")
    page.get_by_role("button", name=re.compile(r"^Show Grid")).click()

    # The data job's log: ingestion (files done of total, each file's state), then the alignment.
    _open_task(ui, run_id, "make_training_pairs")
    documents = sorted(path.name for path in DOCUMENTS.iterdir())
    ingestion = page.get_by_text(
        re.compile(rf"after ingestion {len(documents)} of {len(documents)} file\(s\) done \(")
    )
    expect(ingestion).to_be_visible()
    for name in documents:
        expect(ingestion).to_contain_text(f"{name}: completed")
    # The alignment while it works (queued or running: the trigger polls at the service's ETA), then done.
    expect(
        page.get_by_text(
            re.compile(r"alignment status=(queued|running), step='[^']+', progress=[\d.]+%")
        ).first
    ).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"alignment status=completed, step='Completed', progress=100%"))
    ).to_be_visible()
    expect(page.get_by_text(re.compile(r"Data job \S+ completed with \d+ output file\(s\)"))).to_be_visible()
    page.keyboard.press("w")  # the log viewer's hotkey: wrap long lines, for the screenshot
    ui.shot("data job log")
    tour["run_id"] = run_id


def test_api_key_on_no_task_page(ui, deployment, password, tour):
    """Every task's log, rendered templates and XCom, as the UI shows and fetches them: no API key."""
    expect = _expect()
    page, api, key = ui.page, deployment.api, deployment.api_key
    run_id = tour.get("run_id")
    if run_id is None:  # run alone: a run of the pipeline through the REST API
        _ensure_connection(deployment)
        deployment.emulator.reset(job_duration=4.0, ingestion_seconds=1.0, fine_tune_duration=4.0)
        api.request("PATCH", f"dags/{PIPELINE_DAG}", json={"is_paused": False})
        run_id = "secrets-rest"
        api.trigger(PIPELINE_DAG, run_id, {})
        assert api.wait_run(PIPELINE_DAG, run_id, timeout=360) == "success"
    ui.ensure_logged_in(USERNAME, password)

    # Positive control: the scan finds the key in a page that holds it, and not once it is gone.
    ui.goto("/connections")
    dialog = _open_add_connection_form(ui, "seekrflow_scan_control")
    dialog.get_by_label(RELABELING["password"]).fill(key)
    assert "field values" in ui.scan(key, traffic=False)
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    assert ui.scan(key, traffic=False) == []

    mark = len(ui.traffic)
    found: dict[str, list[str]] = {}
    for task_id in TASKS:
        _open_task(ui, run_id, task_id)
        expect(page.get_by_text(LOG_MARKERS[task_id]).first).to_be_visible()
        found[f"{task_id} log"] = ui.scan(key, traffic=False)
        ui.shot(f"{task_id} log")

        page.get_by_role("link", name="Rendered Templates", exact=True).click()
        expect(page.get_by_text(RENDERED_FIELDS[task_id], exact=True).first).to_be_visible()
        if task_id != "report_model":  # the @task has no connection
            expect(page.get_by_text("seekrflow_conn_id", exact=True).first).to_be_visible()
        found[f"{task_id} rendered templates"] = ui.scan(key, traffic=False)
        ui.shot(f"{task_id} rendered templates")

        page.get_by_role("link", name="Storage", exact=True).click()
        page.get_by_role("link", name="XCom", exact=True).click()
        page.wait_for_url(re.compile(rf"/tasks/{task_id}/xcom$"))
        expect(page.get_by_text("return_value", exact=True)).to_be_visible()
        expand = page.get_by_role("button", name="Expand all extra JSON")
        if expand.count():
            expand.click()
        found[f"{task_id} xcom"] = ui.scan(key, traffic=False)
        ui.shot(f"{task_id} xcom")

    fetched = "\n".join(ui.traffic[mark:])
    # The traffic scan saw these pages' data: the run's data job id came with them.
    data_job_id = api.xcom(PIPELINE_DAG, run_id, "make_training_pairs", "data_job_id")
    assert data_job_id in fetched
    assert len(found) == 3 * len(TASKS)
    assert {page_name: where for page_name, where in found.items() if where} == {}
    assert key not in fetched, "the API key was in an answer the UI fetched"


def test_seekrflow_link(ui, deployment, password, tour):
    """The fine-tune task's page has a SeekrFlow Fine-tune button; clicking it opens the fine-tune's page in SeekrFlow."""
    expect = _expect()
    page, api = ui.page, deployment.api
    run_id = tour.get("run_id")
    if run_id is None:  # run alone: a run of the pipeline through the REST API
        _ensure_connection(deployment)
        deployment.emulator.reset(job_duration=4.0, ingestion_seconds=1.0, fine_tune_duration=4.0)
        api.request("PATCH", f"dags/{PIPELINE_DAG}", json={"is_paused": False})
        run_id = "links-rest"
        api.trigger(PIPELINE_DAG, run_id, {})
        assert api.wait_run(PIPELINE_DAG, run_id, timeout=360) == "success"
    ui.ensure_logged_in(USERNAME, password)

    # Where it must go: the connection's console_url (the tour's form sets one), else its default,
    # the API base URL followed by /{kind}/{id}.
    fine_tune_id = api.xcom(PIPELINE_DAG, run_id, "fine_tune", "fine_tune_id")
    extra = json.loads(api.get(f"connections/{CONN_ID}").get("extra") or "{}")
    template = extra.get("console_url") or deployment.emulator.base_url.rstrip("/") + "/{kind}/{id}"
    expected = template.format(kind="fine-tunes", id=fine_tune_id)
    links = api.get(f"dags/{PIPELINE_DAG}/dagRuns/{run_id}/taskInstances/fine_tune/links")
    assert links["extra_links"] == {"SeekrFlow Fine-tune": expected}, links

    # The external page is never loaded: the browser's request for it gets a stub answer.
    opened: list[str] = []

    def stub(route):
        opened.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>SeekrFlow stub</title>stub")

    def is_expected(url: str) -> bool:  # a predicate, not a glob: "?" in a URL is a glob's wildcard
        return url == expected

    ui.context.route(is_expected, stub)
    try:
        ui.goto(f"/dags/{PIPELINE_DAG}/runs/{run_id}/tasks/fine_tune/details")
        button = page.get_by_role("link", name="SeekrFlow Fine-tune", exact=True)
        expect(button).to_be_visible()
        expect(button).to_have_attribute("href", expected)
        ui.shot("fine-tune task links")
        with page.expect_popup() as popup_info:  # another origin: the UI opens it in a new tab
            button.click()
        popup = popup_info.value
        popup.wait_for_load_state()
        assert popup.url == expected
        assert opened == [expected]
        popup.close()
    finally:
        ui.context.unroute(is_expected, stub)
