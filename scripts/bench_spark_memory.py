"""Peak memory and CPU time of the bench's engines, sampled with psutil."""
from __future__ import annotations

import threading
from typing import Any

SAMPLE_SECONDS = 0.05


class PeakRss:
    """Samples RSS in a thread: ``peak`` is the largest seen, in bytes; ``cpu()`` gives CPU seconds so far.

    ``jvm=True`` measures the JVMs that PySpark launches (``java`` processes under this one), without the Python
    driver; else this process. Hadoop forks the JVM to run ``ls`` and ``rm`` on local files: until the exec such a
    child shows the JVM's RSS again under a thread's name, so only processes named ``java`` count.
    """

    def __init__(self, jvm: bool) -> None:
        import psutil

        self.root = psutil.Process()
        self.jvm = jvm
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _measured(self) -> list[Any]:
        if not self.jvm:
            return [self.root]
        return [p for p in self.root.children(recursive=True) if self._name(p) == "java"]

    @staticmethod
    def _name(process: Any) -> str:
        import psutil

        try:
            return process.name()
        except psutil.Error:
            return ""  # ended between listing and reading

    def _total(self, read: Any) -> float:
        import psutil

        total = 0.0
        for process in self._measured():
            try:
                total += read(process)
            except psutil.Error:
                pass  # ended between listing and reading
        return total

    def cpu(self) -> float:
        """User + system CPU seconds so far of the measured processes that are still running."""
        return self._total(lambda p: sum(p.cpu_times()[:2]))

    def rss(self) -> int:
        return int(self._total(lambda p: p.memory_info().rss))

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())
