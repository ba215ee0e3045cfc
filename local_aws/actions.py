"""The API actions a data-plane service answers: each is a method marked with @action and named after it."""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def action(method: Callable) -> Callable:
    """Marks a method as the handler of the API action of the same name: the request's JSON in, the answer out."""
    method.is_aws_action = True
    return method


def handlers(service: object) -> dict[str, Handler]:
    """Action name -> bound handler, for every @action method of the service."""
    return {name: getattr(service, name) for name, member in inspect.getmembers(type(service), inspect.isfunction)
            if getattr(member, "is_aws_action", False)}
