"""The failure notice of a backup task: which task, which dataset, which run date, and the error it ended with."""
from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier
from airflow.sdk.exceptions import AirflowFailException

from indata_ops.run_date import run_date_of

# Enough for a Spark stack trace's head or a validation table; the rest is in the task log the notice links to.
MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class FailureNotice:
    subject: str
    text: str


def failure_notice(context: Any) -> FailureNotice:
    """What a person needs to act: the task, the dataset and run date, the try, the error text, the log."""
    ti, dag = context["ti"], context.get("dag")
    task_id = ti.task_id
    # Every task of a dataset lives in the task group named after it; the others concern every dataset.
    dataset = task_id.split(".", 1)[0] if "." in task_id else "all datasets"
    try:
        run_date = run_date_of(context["params"], context["dag_run"], dag)
    except (AttributeError, KeyError, TypeError):
        run_date = "unknown"
    exception = context.get("exception")
    error = str(exception or "no error recorded (see the task log)")
    if len(error) > MAX_ERROR_CHARS:
        error = error[:MAX_ERROR_CHARS] + f"\n... ({len(error) - MAX_ERROR_CHARS} more characters in the log)"
    max_tries = getattr(context.get("task"), "retries", 0) + 1
    # Said outright: "try 1 of 4" alone would let the reader wait for retries that will not come.
    permanent = ", not retried (the cause will not go away by itself)" if isinstance(
        exception, AirflowFailException) and ti.try_number < max_tries else ""
    lines = [f"{ti.dag_id}: task {task_id} failed",
             f"dataset: {dataset}",
             f"run date: {run_date}",
             f"try: {ti.try_number} of {max_tries}{permanent}, run {ti.run_id}",
             f"error: {error}"]
    log_url = getattr(ti, "log_url", None)
    if log_url:
        lines.append(f"log: {log_url}")
    return FailureNotice(subject=f"[{ti.dag_id}] {dataset} {run_date}: {task_id} failed", text="\n".join(lines))


class BackupFailureNotifier(BaseNotifier):
    """``on_failure_callback`` of the backup tasks: logs the notice, and sends it where the settings say.

    The log line is always written (the worker's task log: nothing to configure). With ``email_to`` it is also
    e-mailed through the smtp provider's SmtpNotifier on ``smtp_conn_id`` (the sender is the connection's
    ``from_email``); with ``slack_webhook_conn_id`` it is posted as ``{"text": ...}`` to the URL of that HTTP
    connection (a Slack incoming webhook: the secret stays in the connection). A channel that fails is logged
    and does not keep the others from sending.
    """

    def __init__(self, *, email_to: Sequence[str] = (), smtp_conn_id: str = "smtp_default",
                 slack_webhook_conn_id: str | None = None):
        super().__init__()
        self.email_to = list(email_to)
        self.smtp_conn_id = smtp_conn_id
        self.slack_webhook_conn_id = slack_webhook_conn_id

    def notify(self, context: Any) -> None:
        notice = failure_notice(context)
        self.log.error("INDATA backup failure notice\n%s", notice.text)
        if self.email_to:
            self._send("e-mail", self._email, notice, context)
        if self.slack_webhook_conn_id:
            self._send("Slack", self._slack, notice, context)

    def _send(self, channel: str, send: Any, notice: FailureNotice, context: Any) -> None:
        try:
            send(notice, context)
        except Exception:  # a notice that cannot be sent must not hide the task's own failure
            self.log.exception("The failure notice could not be sent by %s", channel)
        else:
            self.log.info("Failure notice sent by %s", channel)

    def _email(self, notice: FailureNotice, context: Any) -> None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        SmtpNotifier(to=self.email_to, subject=notice.subject, smtp_conn_id=self.smtp_conn_id,
                     html_content=f"<pre>{html.escape(notice.text)}</pre>").notify(context)

    def _slack(self, notice: FailureNotice, context: Any) -> None:
        from airflow.providers.http.hooks.http import HttpHook

        if not self.slack_webhook_conn_id:
            raise ValueError("no slack_webhook_conn_id to post the notice to")
        HttpHook(method="POST", http_conn_id=self.slack_webhook_conn_id).run(
            json={"text": notice.text}, headers={"Content-Type": "application/json"})
