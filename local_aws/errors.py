"""AWS-style errors: what a client sees when the stack refuses or cannot serve a request."""
from __future__ import annotations

import json
from xml.sax.saxutils import escape


class AWSError(Exception):
    """An error the way AWS returns it: an error code (the exception name botocore raises) and a message."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def json_error_body(code: str, message: str) -> bytes:
    # botocore reads the code from "__type" and the message from "message" or "Message".
    return json.dumps({"__type": code, "message": message, "Message": message}).encode()


XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _error_element(code: str, message: str) -> str:
    """<Error> with its code and message, left open for what follows them."""
    return f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"


def query_error_body(code: str, message: str) -> bytes:
    # The query protocol (IAM, STS) wraps the error in ErrorResponse; botocore finds nothing in a bare <Error>.
    return (f"{XML_DECLARATION}<ErrorResponse>{_error_element(code, message)}</Error>"
            "<RequestId>local-aws</RequestId></ErrorResponse>").encode()


def xml_error_body(code: str, message: str) -> bytes:
    return f"{XML_DECLARATION}{_error_element(code, message)}<RequestId>local-aws</RequestId></Error>".encode()
