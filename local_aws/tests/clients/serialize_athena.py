"""Print, as JSON, every Athena operation serialized by this interpreter's botocore: for each, the operation's
name, its input and the HTTP request the client would send. Run with the newest SDK's interpreter by
local_aws/tests/test_newest_sdk.py, which feeds each request to local_aws.athena.rest_json. Needs only botocore.

Every top-level input member gets a value (strings with a '/', a ':' and a space, so that path labels must be
percent-encoded); nested structures get their required members. Timestamps and blobs are left out: their JSON form
is not the Python value, and no Athena operation takes one in the path or the query string.
"""
from __future__ import annotations

import json
import sys

import botocore
import botocore.session
from botocore.serialize import create_serializer


def value(shape, name: str, depth: int = 0):
    kind = shape.type_name
    if kind == "string":
        return shape.enum[0] if shape.enum else f"{name} a/b:c d"
    if kind in ("integer", "long"):
        return 7
    if kind == "boolean":
        return True
    if kind in ("double", "float"):
        return 1.5
    if kind == "list":
        item = value(shape.member, name, depth + 1)
        return None if item is None else [item, item]
    if kind == "map":
        item = value(shape.value, name, depth + 1)
        return None if item is None else {"k": item}
    if kind == "structure":
        if depth > 3:
            return None
        members = shape.members if depth == 0 else {m: shape.members[m] for m in shape.required_members}
        filled = {m: value(s, m, depth + 1) for m, s in members.items()}
        return {m: v for m, v in filled.items() if v is not None}
    return None  # timestamp, blob


def main() -> None:
    model = botocore.session.get_session().get_service_model("athena")
    serializer = create_serializer(model.protocol, include_validation=False)
    requests = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        params = value(operation.input_shape, name) if operation.input_shape else {}
        request = serializer.serialize_to_request(params, operation)
        body = request["body"]
        requests.append({
            "operation": name, "params": params, "method": request["method"], "url_path": request["url_path"],
            "query_string": request["query_string"], "headers": dict(request["headers"]),
            "body": body.decode() if isinstance(body, bytes) else body})
    json.dump({"botocore": botocore.__version__, "protocol": model.protocol, "requests": requests}, sys.stdout)


if __name__ == "__main__":
    main()
