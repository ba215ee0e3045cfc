"""The Airflow pools the backup DAG needs: one per Glue crawler, one slot, deferred tasks counted.

A crawler crawls its whole raw/<dataset>/ prefix, and Glue refuses a second start while it runs; during a
backfill several run dates of a dataset reach ``crawl_raw`` at once. One slot per crawler makes them queue in
Airflow instead of waiting on each other's crawl, and ``include_deferred`` keeps a crawl that waits in the
triggerer in its slot. Datasets still crawl in parallel with each other. The dataset's full crawler
(``<crawler name>-full``, run by the same task on the days an incremental crawl is not enough) holds that slot too.

Airflow does not create pools from DAG files, and a task that names a missing pool is never scheduled. The
package's Airflow plugin (indata_ops_plugin.py) creates the missing ones whenever a scheduler, triggerer or DAG
processor starts. Without that plugin (or after adding a dataset, before a restart) run, idempotent::

    PYTHONPATH=plugins python -m indata_ops.pools        # or: --print for the `airflow pools set` lines

A pool that exists is left as it is: an operator may have given a crawler more slots on purpose.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from indata_ops.config import BackupConfig, load_config


@dataclass(frozen=True)
class PoolSpec:
    name: str
    slots: int
    description: str
    include_deferred: bool = True

    def cli(self) -> str:
        return (f"airflow pools set {self.name} {self.slots} '{self.description}'"
                f"{' --include-deferred' if self.include_deferred else ''}")


def crawler_name(config: BackupConfig, dataset: str) -> str:
    return f"{config.settings.glue_job_name_prefix}-raw-{dataset}"


def crawl_pool(config: BackupConfig, dataset: str) -> str:
    return f"crawler_{crawler_name(config, dataset)}"


def required_pools(config: BackupConfig) -> list[PoolSpec]:
    return [PoolSpec(crawl_pool(config, dataset.name), 1,
                     f"One crawl at a time of Glue crawler {crawler_name(config, dataset.name)}")
            for dataset in config.datasets]


def ensure_pools(config: BackupConfig) -> list[PoolSpec]:
    """Create the missing pools in the metadata DB and return them (where the DB is reachable: not in a task)."""
    from airflow.models.pool import Pool

    missing = [pool for pool in required_pools(config) if Pool.get_pool(pool.name) is None]
    for pool in missing:
        Pool.create_or_update_pool(pool.name, pool.slots, pool.description, pool.include_deferred)
    return missing


def main(argv: list[str]) -> int:
    config = load_config()
    if argv[1:] == ["--print"]:
        print("\n".join(pool.cli() for pool in required_pools(config)))
        return 0
    created = ensure_pools(config)
    for pool in required_pools(config):
        print(f"pool {pool.name}: {'created' if pool in created else 'exists, left as it is'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
