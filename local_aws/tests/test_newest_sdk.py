"""The stack with the newest AWS SDK for Python (requirements/newest-sdk.txt, installed by `make newest-sdk` into
.venv/newest-sdk), as well as with the pinned one the rest of the suite uses.

* The virtualenv holds exactly the pinned newest versions, and its botocore speaks the protocols the stack is
  built for: REST-JSON for Athena (the pinned botocore: JSON), JSON for Glue and Logs, REST-XML for S3, query for
  IAM, STS and CloudFormation. A bump that changes a protocol fails here, naming the service.
* Every Athena operation, serialized by the newest botocore, is read back by local_aws.athena.rest_json as the
  same operation with the same input.
* local_aws/tests/clients/test_sdk_contract.py runs under the newest SDK's interpreter against the session's stack
  (it also runs in this suite with the pinned boto3).
"""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import botocore.session
import pytest

from local_aws.athena import rest_json

REPO = Path(__file__).resolve().parents[2]
NEWEST_SDK = REPO / ".venv" / "newest-sdk" / "bin" / "python"
CLIENTS = Path(__file__).resolve().parent / "clients"
PROTOCOLS = {"athena": "rest-json", "glue": "json", "logs": "json", "s3": "rest-xml", "iam": "query", "sts": "query",
             "cloudformation": "query"}


def newest_sdk_python() -> Path:
    assert NEWEST_SDK.exists(), f"{NEWEST_SDK} is missing: run make newest-sdk (requirements/newest-sdk.txt)"
    return NEWEST_SDK


def pins() -> dict[str, str]:
    lines = (REPO / "requirements" / "newest-sdk.txt").read_text().splitlines()
    return {name.lower(): version for name, version in
            (line.split("==") for line in lines if line.strip() and not line.startswith("#"))}


def test_the_newest_sdk_is_installed_and_speaks_the_expected_protocols():
    script = ("import json, importlib.metadata as m, botocore.session as s; session = s.get_session(); "
              f"print(json.dumps({{'versions': {{d.metadata['Name'].lower(): d.version for d in m.distributions()}}, "
              f"'protocols': {{n: session.get_service_model(n).protocol for n in {sorted(PROTOCOLS)!r}}}}}))")
    found = json.loads(subprocess.run([newest_sdk_python(), "-c", script], check=True, capture_output=True,
                                      text=True).stdout)
    wanted = pins()
    installed = {name: found["versions"].get(name) for name in wanted}
    assert installed == wanted, "the newest-sdk virtualenv is stale: run make newest-sdk"
    assert found["protocols"] == PROTOCOLS
    # The pinned botocore still sends Athena JSON-protocol requests: both protocols are exercised.
    assert botocore.session.get_session().get_service_model("athena").protocol == "json"
    assert botocore.__version__ != wanted["botocore"]


def test_every_athena_operation_reads_back_as_itself():
    dumped = json.loads(subprocess.run([newest_sdk_python(), str(CLIENTS / "serialize_athena.py")], check=True,
                                       capture_output=True, text=True).stdout)
    assert dumped["protocol"] == "rest-json"
    assert sorted(r["operation"] for r in dumped["requests"]) == sorted(op for _, _, op in rest_json.ROUTES)
    for request in dumped["requests"]:
        query = urllib.parse.urlencode(request["query_string"], doseq=True, quote_via=urllib.parse.quote)
        body = request["body"].encode()
        environ = {"REQUEST_METHOD": request["method"], "RAW_URI": request["url_path"] + (f"?{query}" if query else ""),
                   "PATH_INFO": urllib.parse.unquote(request["url_path"]), "QUERY_STRING": query,
                   **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in request["headers"].items()
                      if k.lower() not in ("content-type", "content-length")},
                   "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
        operation, payload = rest_json.operation_and_input(environ, body)
        assert (operation, payload) == (request["operation"], request["params"]), request
        translated = rest_json.as_json_request(environ, operation, payload)
        assert translated["HTTP_X_AMZ_TARGET"] == f"AmazonAthena.{operation}"
        assert json.loads(translated["wsgi.input"].read()) == request["params"]


def test_an_unknown_route_is_a_rest_json_error(stack):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{stack.endpoint}/no-such-route", method="GET", headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261206/us-east-1/athena/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 404
    assert raised.value.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert json.loads(raised.value.read())["__type"] == "UnknownOperationException"


def test_the_client_contract_passes_under_the_newest_sdk(stack):
    result = subprocess.run(
        [newest_sdk_python(), "-m", "pytest", "-c", os.devnull, "--rootdir", str(REPO), "--noconftest",
         "-p", "no:cacheprovider", "-p", "local_aws.tests.clients.endpoint_plugin", "-q", "-s",
         str(CLIENTS / "test_sdk_contract.py")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "LOCAL_AWS_ENDPOINT": stack.endpoint, "PYTHONPATH": str(REPO)})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"botocore {pins()['botocore']}, Athena protocol rest-json" in output
    summary = re.search(r"(\d+) passed", output)
    assert summary and int(summary.group(1)) >= 7 and not re.search(r"\d+ (failed|skipped|error)", output), output
    print(sys.version, output.splitlines()[-1])
