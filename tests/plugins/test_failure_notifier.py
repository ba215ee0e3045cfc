"""The failure notice's text, and its e-mail and Slack channels against local servers (SMTP, HTTP).

The notice as a real failing task sends it is in tests/dags/test_indata_backup_runs.py; here the context is
built by hand to reach the corner cases, and the channels go through the real SmtpNotifier and HttpHook.
"""
from __future__ import annotations

import asyncore  # noqa: F401  (smtpd's event loop, stdlib in Python 3.11)
import email
import http.server
import json
import smtpd
import threading
from types import SimpleNamespace

import pendulum
import pytest
from airflow.sdk import DAG

from indata_ops.notifiers.failure import MAX_ERROR_CHARS, BackupFailureNotifier, failure_notice

RUN_ID = "scheduled__2026-11-02T00:00:00+00:00"


def context(task_id: str = "ventas.clean_dataset", error: str = "Glue job x run jr_1 ended FAILED: boom",
            run_date: str | None = None, retries: int = 1) -> dict:
    ti = SimpleNamespace(dag_id="indata_backup", task_id=task_id, try_number=retries + 1, run_id=RUN_ID,
                         log_url="http://localhost:8080/log")
    dag_run = SimpleNamespace(logical_date=pendulum.datetime(2026, 11, 2, tz="UTC"), run_after=None)
    return {"ti": ti, "task": SimpleNamespace(retries=retries), "dag_run": dag_run,
            "dag": DAG("indata_backup", schedule=None, start_date=pendulum.datetime(2026, 11, 1, tz="UTC")),
            "params": {"run_date": run_date}, "exception": RuntimeError(error)}


def test_the_notice_names_task_dataset_run_date_try_error_and_log():
    notice = failure_notice(context())
    assert notice.subject == "[indata_backup] ventas 2026-11-02: ventas.clean_dataset failed"
    assert notice.text.splitlines() == [
        "indata_backup: task ventas.clean_dataset failed", "dataset: ventas", "run date: 2026-11-02",
        f"try: 2 of 2, run {RUN_ID}", "error: Glue job x run jr_1 ended FAILED: boom",
        "log: http://localhost:8080/log"]


def test_a_dag_level_task_concerns_every_dataset_and_the_param_date_wins():
    notice = failure_notice(context(task_id="check_params", run_date="2026-11-07", retries=0))
    assert "dataset: all datasets" in notice.text and "run date: 2026-11-07" in notice.text
    assert "try: 1 of 1" in notice.text


def test_a_permanent_failure_says_that_no_retry_follows():
    from indata_ops.errors import PermanentError

    failed_at_once = {**context(retries=3), "exception": PermanentError("No files match 'ventas/9999-12-31/*.csv'")}
    failed_at_once["ti"].try_number = 1
    assert f"try: 1 of 4, not retried (the cause will not go away by itself), run {RUN_ID}" in (
        failure_notice(failed_at_once).text.splitlines())
    assert f"try: 4 of 4, run {RUN_ID}" in failure_notice(context(retries=3)).text.splitlines()


def test_a_long_error_is_cut_with_a_pointer_to_the_log():
    notice = failure_notice(context(error="x" * (MAX_ERROR_CHARS + 500)))
    error = notice.text.split("error: ", 1)[1]
    assert error.startswith("x" * MAX_ERROR_CHARS + "\n... (500 more characters in the log)")


class Inbox(smtpd.SMTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), None)
        self.messages: list[tuple[str, list[str], bytes]] = []

    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        self.messages.append((mailfrom, rcpttos, data))


@pytest.fixture()
def smtp_server(monkeypatch):
    inbox = Inbox()
    thread = threading.Thread(target=asyncore.loop, kwargs={"timeout": 0.1}, daemon=True)
    thread.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_INDATA", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": inbox.socket.getsockname()[1],
        "extra": {"from_email": "airflow@indata.example", "disable_ssl": True, "disable_tls": True,
                  "retry_limit": 1, "timeout": 10}}))
    yield inbox
    inbox.close()
    thread.join(timeout=5)


@pytest.fixture()
def webhook(monkeypatch):
    received: list[tuple[str, dict]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # As for Slack: the webhook's whole URL (the secret) is the connection's host.
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_INDATA", json.dumps({
        "conn_type": "http", "host": f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/secret"}))
    yield received
    server.shutdown()


def test_the_notice_is_e_mailed_and_posted_when_configured(smtp_server, webhook):
    notifier = BackupFailureNotifier(email_to=["ops@indata.example", "oncall@indata.example"],
                                     smtp_conn_id="smtp_indata", slack_webhook_conn_id="slack_indata")
    notifier.notify(context())
    expected = failure_notice(context())

    [(sender, recipients, data)] = smtp_server.messages
    assert (sender, recipients) == ("airflow@indata.example", ["ops@indata.example", "oncall@indata.example"])
    message = email.message_from_bytes(data)
    assert message["Subject"] == expected.subject
    html = next(part for part in message.walk() if part.get_content_type() == "text/html")
    assert "Glue job x run jr_1 ended FAILED: boom" in html.get_payload(decode=True).decode()
    assert webhook == [("/services/T0/B0/secret", {"text": expected.text})]


def test_a_channel_that_fails_does_not_stop_the_others(webhook, capsys):
    # No SMTP connection by that name: the e-mail fails, the Slack post still goes.
    notifier = BackupFailureNotifier(email_to=["ops@indata.example"], smtp_conn_id="smtp_missing",
                                     slack_webhook_conn_id="slack_indata")
    notifier.notify(context())
    assert len(webhook) == 1
    log = capsys.readouterr().out  # Airflow's structured log goes to stdout
    assert "The failure notice could not be sent by e-mail" in log and "smtp_missing" in log
    assert "Failure notice sent by Slack" in log
