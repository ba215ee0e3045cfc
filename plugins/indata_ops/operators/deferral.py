"""A deferred wait bounded like a running one."""
from __future__ import annotations

from datetime import timedelta
from typing import Any


class BoundedDeferralMixin:
    """Defers with the task's ``execution_timeout`` as the trigger timeout unless another one is given.

    ``execution_timeout`` only bounds the time a task spends in a worker; a wait handed to the triggerer would
    otherwise be bounded by nothing but its trigger's attempt count. Each deferral gets the whole timeout.
    """

    execution_timeout: timedelta | None

    def defer(self, *, trigger: Any, method_name: str, kwargs: dict[str, Any] | None = None,
              timeout: timedelta | int | float | None = None) -> Any:
        return super().defer(trigger=trigger, method_name=method_name, kwargs=kwargs,  # type: ignore[misc]
                             timeout=timeout if timeout is not None else self.execution_timeout)
