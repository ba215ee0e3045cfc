"""One endpoint for S3, Glue, Athena, CloudWatch Logs, IAM and STS: moto's server plus a real data plane.

Requests the data plane handles (crawlers, jobs, query executions) are answered here; everything else falls through
to moto. After each write that moto answers, the changed state is saved before the response leaves, so a crash
loses at most the requests in flight. Whatever cannot be served is answered as AWS would answer it, never with an
HTTP 500 carrying a Python traceback. Athena requests in REST-JSON (botocore 1.44 and later) are answered as their
JSON-protocol twins (athena/rest_json.py), so both protocols reach the same handlers.
"""
from __future__ import annotations

import functools
import io
import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from local_aws.actions import Handler, handlers
from local_aws.athena import rest_json
from local_aws.errors import AWSError, json_error_body, query_error_body, xml_error_body
from local_aws.iam_enforcement import ROLE_CREDENTIALS_PATH
from local_aws.keepalive import KeepAliveServer
from local_aws.persistence import StateStore
from local_aws.s3_checksums import decay
from local_aws.s3_checksums import install as install_s3_checksums

log = logging.getLogger("local_aws")

DEFAULT_PORT = 4566
DEFAULT_REGION = "us-east-1"
HEALTH_PATH = "/_local_aws/health"
DECAY_PATH = "/_local_aws/s3/decay"  # bit rot for restore tests: a stored byte flipped, its checksum kept
# X-Amz-Target prefixes of the JSON-protocol services, by service name.
TARGET_SERVICES = {"AWSGlue": "glue", "AmazonAthena": "athena", "Logs_20140328": "logs"}
READ_ACTION = re.compile(r"^(Get|List|Describe|Search|BatchGet|Filter|Test|Lookup)")
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


def _service_of(environ: dict[str, Any]) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return TARGET_SERVICES.get(target.split(".", 1)[0])
    match = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        return match.group(1)
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    credential = query.get("X-Amz-Credential", [""])[0]  # presigned URLs
    parts = credential.split("/")
    return parts[3] if len(parts) > 3 else None


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the body once and put it back for moto."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


class LocalAWSApp:
    """WSGI application: data-plane handlers first, moto for the rest, persistence after every write."""

    def __init__(self, store: StateStore | None, handlers: dict[str, dict[str, Handler]], enforcer=None):
        self.store = store
        self.enforcer = enforcer  # local_aws.iam_enforcement.Enforcer when IAM is enforced
        self.handlers = handlers  # service -> action -> handler
        self.moto = DomainDispatcherApplication(create_backend_app)
        # moto lists its package folder and tries every service's URL patterns on each request, under one global
        # lock: ~40 % of an S3 PUT's server time. The answer depends only on the host, so remember it.
        self.moto.get_backend_for_host = functools.lru_cache(maxsize=1024)(self.moto.get_backend_for_host)
        # Small services pickled whole after each write; CloudFormation's stacks too, so a deploy after a restart
        # updates its stack instead of creating it again over resources that already exist.
        services = ("glue", "athena", "logs", "iam", "sts", "cloudformation")
        self._service_locks = {name: threading.Lock() for name in services}

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            health = {"status": "ok", "iam_enforced": self.enforcer is not None}
            return self._respond(start_response, 200, json.dumps(health).encode(), "application/json")
        if environ.get("PATH_INFO") == DECAY_PATH and environ.get("REQUEST_METHOD") == "POST":
            return self._decay(environ, start_response)
        service = _service_of(environ)
        if self.enforcer is not None and environ.get("PATH_INFO", "").startswith(ROLE_CREDENTIALS_PATH):
            try:
                return self._respond(start_response, 200, json.dumps(self.enforcer.role_credentials(
                    environ["PATH_INFO"])).encode(), "application/json")
            except AWSError as error:
                return self._error(start_response, error, json_protocol=True)
        if self.enforcer is not None:
            try:
                self.enforcer.admit(environ, service)
            except AWSError as error:
                if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):  # IAM, STS
                    return self._respond(start_response, error.status, query_error_body(error.code, error.message),
                                         "text/xml")
                return self._error(start_response, error, json_protocol=service in ("glue", "athena", "logs"))
        if service == "athena" and "HTTP_X_AMZ_TARGET" not in environ:  # REST-JSON: botocore 1.44 and later
            return rest_json.answer(self, environ, start_response)
        try:
            if "HTTP_X_AMZ_TARGET" in environ:
                return self._json_protocol(service, environ, start_response)
            if service == "s3":
                return self._s3(environ, start_response)
            return self._query_protocol(service, environ, start_response)
        except AWSError as error:
            return self._error(start_response, error, json_protocol="HTTP_X_AMZ_TARGET" in environ)
        except Exception:  # the client gets an AWS-style error; the traceback goes to the stack's log
            log.exception("Internal error serving %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            error = AWSError("InternalFailure", "The local AWS stack failed to serve this request; see its log.", 500)
            return self._error(start_response, error, json_protocol="HTTP_X_AMZ_TARGET" in environ)

    def _decay(self, environ: dict[str, Any], start_response: Callable):
        request = json.loads(_read_body(environ) or b"{}")
        try:
            done = decay(request["bucket"], request["key"], int(request.get("offset", 0)))
        except (KeyError, ValueError) as error:
            return self._respond(start_response, 400, json.dumps({"error": str(error)}).encode(), "application/json")
        if self.store is not None:
            self.store.save_key(done["bucket"], done["key"])
        return self._respond(start_response, 200, json.dumps(done).encode(), "application/json")

    # --- protocols ---------------------------------------------------------------------------------------------
    def _json_protocol(self, service: str | None, environ: dict[str, Any], start_response: Callable):
        action = environ["HTTP_X_AMZ_TARGET"].split(".", 1)[-1]
        handler = self.handlers.get(service or "", {}).get(action)
        if self.enforcer is not None and service:
            body = _read_body(environ)
            self.enforcer.authorize_request(environ, service, action, json.loads(body) if body.strip() else {})
        if handler is not None:
            body = _read_body(environ)
            payload = json.loads(body) if body.strip() else {}
            result = handler(payload)
            return self._respond(start_response, 200, json.dumps(result, default=str).encode(),
                                 "application/x-amz-json-1.1")
        return self._moto_call(service, action, environ, start_response, json_protocol=True)

    def _query_protocol(self, service: str | None, environ: dict[str, Any], start_response: Callable):
        body = _read_body(environ)
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        action = (form.get("Action") or query.get("Action") or [""])[0]
        return self._moto_call(service, action, environ, start_response, json_protocol=False)

    def _moto_call(self, service, action, environ, start_response, json_protocol: bool):
        writes = self.store is not None and service in self._service_locks and not READ_ACTION.match(action or "")
        if not writes:
            return self._checked_moto(environ, start_response, action, json_protocol)
        with self._service_locks[service]:  # no write may change the backend while it is being pickled
            response = self._checked_moto(environ, start_response, action, json_protocol, on_success=lambda: (
                self.store.save_backend(service)))
        return response

    def _s3(self, environ: dict[str, Any], start_response: Callable):
        method = environ["REQUEST_METHOD"]
        if self.store is None or method in ("GET", "HEAD", "OPTIONS"):
            return self._checked_moto(environ, start_response, "", json_protocol=False)
        path = urllib.parse.unquote(environ.get("PATH_INFO", "")).lstrip("/")
        bucket, _, key = path.partition("/")
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        deleted_keys: list[str] = []
        if method == "POST" and "delete" in query:
            deleted_keys = [node.text or "" for node in ElementTree.fromstring(_read_body(environ)).iter()
                            if node.tag.endswith("}Key") or node.tag == "Key"]

        def persist() -> None:
            if "uploadId" in query and method in ("PUT", "DELETE"):
                return  # a part or an abort: nothing committed yet
            if method == "POST" and "uploads" in query:
                return
            if deleted_keys:
                for name in deleted_keys:
                    self.store.save_key(bucket, name)
            elif key:
                self.store.save_key(bucket, key)
            elif bucket:
                self.store.save_bucket(bucket)

        return self._checked_moto(environ, start_response, "", json_protocol=False, on_success=persist)

    # --- moto, with its failures turned into AWS errors --------------------------------------------------------
    def _checked_moto(self, environ, start_response, action: str, json_protocol: bool,
                      on_success: Callable[[], None] | None = None):
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None  # moto returns its body as an iterable; write() is never used

        chunks = self.moto(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status_code = int(captured["status"].split()[0])
        if status_code >= 500:
            log.error("moto failed on %s (%s): %s", action or environ.get("PATH_INFO"), captured["status"],
                      body[:2000].decode("utf-8", "replace"))
            error = AWSError("NotImplemented" if b"NotImplementedError" in body else "InternalFailure",
                             f"The local AWS stack cannot serve {action or 'this request'}.", 501
                             if b"NotImplementedError" in body else 500)
            return self._error(start_response, error, json_protocol)
        if on_success is not None and status_code < 300:
            on_success()
        start_response(captured["status"], captured["headers"])
        return [body]

    @staticmethod
    def _respond(start_response: Callable, status: int, body: bytes, content_type: str):
        start_response(f"{status} {'OK' if status == 200 else 'Error'}",
                       [("Content-Type", content_type), ("Content-Length", str(len(body))),
                        ("x-amzn-RequestId", "local-aws")])
        return [body]

    def _error(self, start_response: Callable, error: AWSError, json_protocol: bool):
        if json_protocol:
            return self._respond(start_response, error.status, json_error_body(error.code, error.message),
                                 "application/x-amz-json-1.1")
        return self._respond(start_response, error.status, xml_error_body(error.code, error.message),
                             "application/xml")


class LocalAWS:
    """The local AWS stack: start() serves it in a background thread, stop() shuts it down cleanly.

    ``warm_athena``: load the Athena engine in the background once serving (``python -m local_aws`` does), so that
    the first query after a start is not 0.6 s slower than the next; in-process test stacks skip that CPU."""

    def __init__(self, port: int = DEFAULT_PORT, state_dir: str | Path | None = None, host: str = "127.0.0.1",
                 enforce_iam: bool = False, warm_athena: bool = False):
        self.host, self.port = host, port
        self.enforce_iam = enforce_iam
        self.warm_athena = warm_athena
        self.state_dir = Path(state_dir) if state_dir else None
        self.store = StateStore(self.state_dir) if self.state_dir else None
        self._server: KeepAliveServer | None = None
        self._thread: threading.Thread | None = None
        self.data_plane: list[Any] = []
        self.athena: Any = None
        self.warming: threading.Thread | None = None  # the Athena engine's warm-up, when asked for

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def build_app(self) -> LocalAWSApp:
        # Imported here so that a plain `import local_aws` stays light (no Spark, no DuckDB).
        from local_aws.athena.api import AthenaService
        from local_aws.cloudformation import register as register_cloudformation
        from local_aws.glue.api import GlueService

        register_cloudformation(self.store)  # Glue and Athena resource types, bucket properties, persistence
        install_s3_checksums()  # PutObject and UploadPart check the checksums they are sent, as S3 does
        work_dir = self._work_dir()
        enforcer = None
        if self.enforce_iam:
            from local_aws.iam_enforcement import Enforcer

            enforcer = Enforcer()
            enforcer.install()  # before the data plane makes its clients: they sign with the keys it makes
        glue = GlueService(self.endpoint, self.store, work_dir=work_dir, enforcer=enforcer)
        athena = AthenaService(self.endpoint, self.store, cache_dir=work_dir / "athena-cache")
        if enforcer is not None:
            enforcer.query_lookup = athena.executions.get
        self.data_plane = [glue, athena]
        self.athena = athena
        return LocalAWSApp(self.store, {"glue": handlers(glue), "athena": handlers(athena)}, enforcer)

    def _work_dir(self) -> Path:
        """Job run mirrors and the Athena cache: inside the state dir, or a temporary one for a memory-only stack."""
        if self.state_dir:
            return self.state_dir / "work"
        import tempfile

        return Path(tempfile.mkdtemp(prefix="local-aws-"))

    def start(self) -> LocalAWS:
        started = time.monotonic()
        if self.port == 0:  # the data plane's clients need the real port before the app is built
            import socket

            with socket.socket() as probe:
                probe.bind((self.host, 0))
                self.port = probe.getsockname()[1]
        restored = self.store.restore() if self.store else {}
        app = self.build_app()
        self._server = KeepAliveServer(self.host, self.port, app)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-aws", daemon=True)
        self._thread.start()
        for component in self.data_plane:
            component.resume()
        if self.warm_athena:
            self.warming = self.athena.warm_up()
        log.info("Local AWS stack on %s (state: %s, restored: %s) in %.2f s", self.endpoint,
                 self.state_dir or "memory only", restored, time.monotonic() - started)
        return self

    def stop(self) -> None:
        for component in self.data_plane:
            component.shutdown()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
