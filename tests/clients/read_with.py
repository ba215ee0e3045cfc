"""Read the local data lake's clean table the way users do, with the newest SDK's interpreter (.venv/newest-sdk):
``python read_with.py pyathena|awswrangler DATABASE TABLE WORKGROUP S3_PATH``. Prints what was read as JSON lines
for tests/clients/test_user_tools.py. The stack is found the way docs/clients.md shows: AWS_ENDPOINT_URL, dummy
credentials and the region in the environment; nothing in the tools is patched.
"""
from __future__ import annotations

import json
import sys


def pyathena(database: str, table: str, workgroup: str) -> None:
    from pyathena import connect

    cursor = connect(work_group=workgroup, schema_name=database).cursor()
    cursor.execute(f"SELECT id, name, amount, dt FROM {table} WHERE amount > %(least)s ORDER BY id", {"least": 1.0})
    print(json.dumps({"description": [column[:2] for column in cursor.description],
                      "rows": [list(row) for row in cursor.fetchall()], "query_id": cursor.query_id}))


def awswrangler(database: str, table: str, workgroup: str, path: str) -> None:
    import awswrangler as wr

    frame = wr.athena.read_sql_query(f"SELECT id, name, amount, dt FROM {table} ORDER BY id", database=database,
                                     workgroup=workgroup, ctas_approach=False)
    print(json.dumps({"read_sql_query": {"dtypes": {c: str(t) for c, t in frame.dtypes.items()},
                                         "rows": frame.astype(object).where(frame.notna(), None).values.tolist()}}))
    frame = wr.s3.read_parquet(path=path, dataset=True).sort_values("id")
    print(json.dumps({"read_parquet": {"dtypes": {c: str(t) for c, t in frame.dtypes.items()},
                                       "rows": frame.astype(object).where(frame.notna(), None).values.tolist()}}))


if __name__ == "__main__":
    tool, database, table, workgroup, path = sys.argv[1:]
    if tool == "pyathena":
        pyathena(database, table, workgroup)
    else:
        awswrangler(database, table, workgroup, path)
