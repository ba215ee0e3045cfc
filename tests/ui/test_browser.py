"""The Airflow UI in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium), as a person uses it.

Log in, open indata_backup, see every task of each dataset's chain in the graph, trigger a run for 2026-11-02
through the Params form and watch it succeed, then follow a validate_clean task's "Validation report" link to the
date's report. Screenshots of each step go to .local/test-artifacts/ui/.
"""
from __future__ import annotations

import shutil
import time
import urllib.parse
from pathlib import Path

import pytest
from airflow_runs import CHAIN, MEASURED, assert_dataset_run
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from scripts.airflow_up import ADMIN_USER, DAG_ID

RUN_DATE = "2026-11-02"
RUN_TIMEOUT = 420


@pytest.fixture(scope="module")
def browser(artifacts: Path) -> WebDriver:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("The UI tests need Debian's chromium and chromium-driver: `make browser` installs them (as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # with both paths given Selenium does not try to download a browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000",
                     "--lang=en-US"):  # en-US: the date input takes month, day, year
        options.add_argument(argument)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.save_screenshot(str(artifacts / "last-page.png"))  # where a failed test left the page
        chrome.quit()


def click(browser: WebDriver, label: str) -> None:
    button = (By.CSS_SELECTOR, f"button[aria-label='{label}']")
    WebDriverWait(browser, 30).until(EC.element_to_be_clickable(button)).click()


def log_in(browser: WebDriver, airflow) -> None:
    browser.get(airflow.url + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(EC.visibility_of_element_located((By.NAME, "username"))).send_keys(ADMIN_USER)
    browser.find_element(By.NAME, "password").send_keys(airflow.admin_password())
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda page: "/auth/login" not in page.current_url)


def graph_task_ids(browser: WebDriver, airflow) -> set[str]:
    browser.get(f"{airflow.url}/dags/{DAG_ID}")
    click(browser, "Show Graph (Press g)")
    click(browser, "Expand all task groups")
    WebDriverWait(browser, 30).until(
        lambda page: len(page.find_elements(By.CSS_SELECTOR, ".react-flow__node")) > len(CHAIN))
    time.sleep(1)  # the layout settles after the groups open
    return {node.get_attribute("data-id") for node in browser.find_elements(By.CSS_SELECTOR, ".react-flow__node")}


def trigger_through_form(browser: WebDriver, run_date: str, artifacts: Path) -> str:
    """Fill the Params form's run date, leave the rest at their defaults, trigger; returns the new run's id."""
    click(browser, "Trigger Dag")
    field = WebDriverWait(browser, 30).until(EC.visibility_of_element_located((By.NAME, "element_run_date")))
    year, month, day = run_date.split("-")
    field.send_keys(month + day + year)
    assert field.get_attribute("value") == run_date
    browser.save_screenshot(str(artifacts / "02-trigger-form.png"))
    trigger = [button for button in browser.find_elements(By.XPATH, "//button[normalize-space()='Trigger']")
               if button.is_displayed()][-1]  # the form's, not the page header's
    trigger.click()
    WebDriverWait(browser, 30).until(lambda page: "/runs/" in page.current_url)
    return urllib.parse.unquote(browser.current_url.split("/runs/", 1)[1].split("?")[0])


def run_state_in_page(browser: WebDriver, run_id: str) -> str:
    badges = browser.find_elements(
        By.XPATH, f"//h2[normalize-space()='{run_id}']/following-sibling::*[@data-testid='state-badge']")
    return badges[0].text.strip().lower() if badges else ""


def open_validation_report(browser: WebDriver, airflow, run_id: str, dataset: str, artifacts: Path) -> None:
    """From the task instance's Details tab, the extra link's button to the report (the page the link opens)."""
    task_id = f"{dataset}.validate_clean"
    browser.get(f"{airflow.url}/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}/tasks/{task_id}/details")
    link = WebDriverWait(browser, 30).until(EC.element_to_be_clickable(
        (By.XPATH, "//a[normalize-space()='Validation report']")))
    browser.save_screenshot(str(artifacts / "04-task-with-report-link.png"))
    link.click()
    if len(browser.window_handles) > 1:  # the UI opens external links in a new tab
        browser.switch_to.window(browser.window_handles[-1])
    WebDriverWait(browser, 30).until(EC.presence_of_element_located((By.CSS_SELECTOR, "tr[data-check]")))
    browser.save_screenshot(str(artifacts / "05-validation-report.png"))


def test_log_in_see_the_graph_trigger_a_date_and_see_it_succeed(
        airflow, browser, artifacts, dag_params, dataset_names, expected_counts):
    log_in(browser, airflow)

    shown = graph_task_ids(browser, airflow)
    browser.save_screenshot(str(artifacts / "01-graph.png"))
    missing = {f"{dataset}.{task}" for dataset in dataset_names for task in CHAIN} - shown
    assert not missing, f"tasks missing from the graph: {sorted(missing)}"

    started = time.monotonic()
    run_id = trigger_through_form(browser, RUN_DATE, artifacts)
    deadline = started + RUN_TIMEOUT
    while (state := run_state_in_page(browser, run_id)) not in {"success", "failed"}:
        assert time.monotonic() < deadline, f"the UI still shows {state!r} for {run_id} after {RUN_TIMEOUT} s"
        time.sleep(3)  # the run page refreshes itself while the run is active
    browser.save_screenshot(str(artifacts / "03-run-finished.png"))
    MEASURED["run triggered in the UI, to success (s)"] = round(time.monotonic() - started, 1)
    assert state == "success"

    # What the form sent: the date typed in, and the defaults of the params the DAG declares.
    conf = airflow.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}")["conf"]
    assert conf["run_date"] == RUN_DATE
    defaults = {"datasets": dataset_names, "full_refresh": False, "dry_run": False}
    assert {name: conf[name] for name in defaults if name in dag_params} == \
        {name: value for name, value in defaults.items() if name in dag_params}
    for dataset in dataset_names:
        assert_dataset_run(airflow, run_id, dataset, RUN_DATE, expected_counts[dataset][RUN_DATE])

    # One click from the task to the date's report: every check shown, the declared ones included, none failed.
    open_validation_report(browser, airflow, run_id, "ventas", artifacts)
    assert "ventas" in browser.title and RUN_DATE in browser.title
    results = {row.get_attribute("data-check"): row.get_attribute("data-result")
               for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-check]")}
    assert results and "FAILED" not in results.values(), results
    assert any(name.startswith("accepted_values(") for name in results), sorted(results)
