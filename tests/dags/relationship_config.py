"""The shipped config plus one check across datasets: each sale's customer is one of that day's clientes.

The shipped file declares no relationship (clientes holds the customers that changed that day, so most sales'
customers are not in it); the tests that need one write this copy. Severity warn: the sample's sales do name
customers missing from the day's clientes, and the run must still succeed.
"""
from __future__ import annotations

from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[2] / "include" / "config" / "datasets.yaml"
AFTER = "      - freshness: {column: actualizado, max_age: 1d}     # the export carries"  # ventas' last check
RELATIONSHIP = "      - relationship: {column: cliente, to: clientes.id_cliente, dates: same, severity: warn}"


def config_with_relationship(directory: Path) -> Path:
    """Writes the config to ``directory`` and returns its path."""
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    [at] = [index for index, line in enumerate(lines) if line.startswith(AFTER)]
    path = directory / "datasets.yaml"
    path.write_text("\n".join([*lines[:at + 1], RELATIONSHIP, *lines[at + 1:]]) + "\n", encoding="utf-8")
    return path
