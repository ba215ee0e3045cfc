"""The operations settings: deferrable waits and failure notices, from datasets.yaml or BACKUP_* variables."""
from __future__ import annotations

import pytest

from indata_ops.config import ConfigError, load_config


def test_waits_defer_and_notices_only_log_by_default():
    settings = load_config(environ={}).settings
    assert settings.deferrable is True
    assert (settings.notify_email, settings.notify_email_addresses) == (None, ())
    assert (settings.smtp_conn_id, settings.slack_webhook_conn_id) == ("smtp_default", None)


def test_environment_turns_deferral_off_and_notices_on():
    settings = load_config(environ={"BACKUP_DEFERRABLE": "False", "BACKUP_NOTIFY_EMAIL": " a@indata.es,b@x.org ",
                                    "BACKUP_SMTP_CONN_ID": "smtp_ops",
                                    "BACKUP_SLACK_WEBHOOK_CONN_ID": "slack_ops"}).settings
    assert settings.deferrable is False
    assert settings.notify_email_addresses == ("a@indata.es", "b@x.org")
    assert (settings.smtp_conn_id, settings.slack_webhook_conn_id) == ("smtp_ops", "slack_ops")


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("BACKUP_DEFERRABLE", "sometimes", "field 'deferrable' (from environment variable BACKUP_DEFERRABLE): "
                                       "must be true or false (got 'sometimes')"),
    ("BACKUP_NOTIFY_EMAIL", "ops@indata.es; x", "field 'notify_email' (from environment variable "
                                                "BACKUP_NOTIFY_EMAIL): must be comma-separated e-mail addresses"),
    ("BACKUP_SLACK_WEBHOOK_CONN_ID", "https://hooks.slack.com/services/T0/B0/x",
     "field 'slack_webhook_conn_id' (from environment variable BACKUP_SLACK_WEBHOOK_CONN_ID): must be an Airflow "
     "connection id"),
])
def test_bad_values_name_the_field_and_the_variable(variable, value, message):
    with pytest.raises(ConfigError) as error:
        load_config(environ={variable: value})
    assert message in str(error.value)
