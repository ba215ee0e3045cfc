"""Glue crawlers and jobs that really run, behind the Glue API.

moto keeps the Data Catalog (databases, tables, partitions, tags); this module owns crawlers and jobs because moto's
never leave RUNNING, create no tables and run nothing, and several calls the Amazon provider makes (UpdateCrawler,
GetCrawlerMetrics, UpdateJob, BatchStopJobRun) are missing there. Crawls and job runs happen in background threads;
the API answers at once, with the states AWS reports.
"""
from __future__ import annotations

import copy
import logging
import secrets
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from local_aws import iam_enforcement
from local_aws.actions import action
from local_aws.errors import AWSError
from local_aws.glue.job_runner import TERMINAL_STATES, JobRunProcess
from local_aws.persistence import StateStore

log = logging.getLogger("local_aws.glue")

ACCOUNT = "123456789012"
REGION = "us-east-1"
CRAWLER_FIELDS = ("Role", "Targets", "DatabaseName", "Description", "Classifiers", "RecrawlPolicy",
                  "SchemaChangePolicy", "LineageConfiguration", "TablePrefix", "Schedule", "Configuration",
                  "CrawlerSecurityConfiguration", "LakeFormationConfiguration")
JOB_FIELDS = ("Description", "LogUri", "Role", "ExecutionProperty", "Command", "DefaultArguments",
              "NonOverridableArguments", "Connections", "MaxRetries", "AllocatedCapacity", "Timeout", "MaxCapacity",
              "SecurityConfiguration", "NotificationProperty", "GlueVersion", "NumberOfWorkers", "WorkerType",
              "CodeGenConfigurationNodes", "ExecutionClass", "SourceControlDetails", "MaintenanceWindow",
              "JobMode", "JobRunQueuingEnabled")
DEFAULT_SCHEMA_CHANGE_POLICY = {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DEPRECATE_IN_DATABASE"}
# The folders a crawler's incremental crawls have read: saved with the crawler, never shown by the API.
CRAWLED_FOLDERS = "_crawled_folders"
PRIVATE_FIELDS = ("_started", CRAWLED_FOLDERS)


def _page(items: list[Any], payload: dict[str, Any], default_size: int = 100) -> tuple[list[Any], str | None]:
    """Index-based pagination with MaxResults/NextToken, as Glue's Get*/List* calls do."""
    start = int(payload.get("NextToken") or 0)
    size = int(payload.get("MaxResults") or default_size)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _not_found(kind: str, name: str) -> AWSError:
    return AWSError("EntityNotFoundException", f"{kind} with name {name} not found" if kind != "Job"
                    else f"Job {name} not found")


def _new_folders_only(crawler: dict[str, Any]) -> bool:
    return (crawler.get("RecrawlPolicy") or {}).get("RecrawlBehavior") == "CRAWL_NEW_FOLDERS_ONLY"


def _check_recrawl_policy(crawler: dict[str, Any]) -> None:
    """AWS refuses an incremental crawler whose SchemaChangePolicy is not LOG/LOG (its default is not)."""
    policy = crawler.get("SchemaChangePolicy") or DEFAULT_SCHEMA_CHANGE_POLICY
    if _new_folders_only(crawler) and (policy.get("UpdateBehavior"), policy.get("DeleteBehavior")) != ("LOG", "LOG"):
        raise AWSError("InvalidInputException", 'The SchemaChangePolicy for "Crawl new folders only" Amazon S3 target '
                       "can have only LOG DeleteBehavior value and LOG UpdateBehavior value.")


class GlueService:
    """Crawler and job APIs; state saved as documents in the stack's state directory."""

    def __init__(self, endpoint: str, store: StateStore | None, work_dir: Path, enforcer=None):
        self.endpoint = endpoint
        self.enforcer = enforcer  # with IAM enforced, crawls and job runs get their role's credentials
        self.store = store
        self.work_dir = Path(work_dir)
        self.crawlers: dict[str, dict[str, Any]] = {}
        self.crawler_metrics: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}  # run id -> JobRun document
        self.processes: dict[str, JobRunProcess] = {}
        self._crawl_cancel: dict[str, threading.Event] = {}
        self._lock = threading.RLock()

    # --- plumbing ---------------------------------------------------------------------------------------------
    def client(self, service: str, credentials=None):
        # The data plane talks to the stack through its own endpoint, so every write is persisted like any other.
        return iam_enforcement.client(service, self.endpoint, REGION, credentials)

    def _role_credentials(self, role: str, session_name: str):
        """With IAM enforced, the role's credentials as Glue gets them (sts:AssumeRole); else None."""
        if self.enforcer is None:
            return None
        return self.enforcer.assume_service_role(role or "", iam_enforcement.GLUE_ROLE_SERVICE, session_name)

    def _save(self, kind: str, name: str, doc: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.save_doc(kind, name, doc)

    def _delete(self, kind: str, name: str) -> None:
        if self.store is not None:
            self.store.delete_doc(kind, name)

    def resume(self) -> None:
        """Reload crawlers, jobs and runs; work that a stop interrupted is reported as AWS reports a lost run."""
        if self.store is None:
            return
        for doc in self.store.load_docs("crawlers"):
            crawler, metrics = doc["crawler"], doc["metrics"]
            if crawler["State"] != "READY":
                crawler["State"] = "READY"
                crawler["LastCrawl"] = {**crawler.get("LastCrawl", {}), "Status": "FAILED",
                                        "ErrorMessage": "The crawl was interrupted by a restart of the stack."}
            self.crawlers[crawler["Name"]], self.crawler_metrics[crawler["Name"]] = crawler, metrics
        for job in self.store.load_docs("jobs"):
            self.jobs[job["Name"]] = job
        for run in self.store.load_docs("job-runs"):
            if run["JobRunState"] not in TERMINAL_STATES:
                run.update(JobRunState="FAILED", ErrorMessage="The job run was interrupted by a restart of the stack.",
                           CompletedOn=time.time())
            self.runs[run["Id"]] = run

    def shutdown(self) -> None:
        for process in list(self.processes.values()):
            process.stop("STOPPED", "The local AWS stack was shut down.")

    def _tag(self, arn: str, tags: dict[str, str] | None) -> None:
        if tags:
            self.client("glue").tag_resource(ResourceArn=arn, TagsToAdd=tags)

    # --- crawlers ---------------------------------------------------------------------------------------------
    def _crawler(self, name: str) -> dict[str, Any]:
        crawler = self.crawlers.get(name)
        if crawler is None:
            raise _not_found("Crawler", name)
        return crawler

    def _save_crawler(self, name: str) -> None:
        self._save("crawlers", name, {"crawler": self.crawlers[name], "metrics": self.crawler_metrics[name]})

    @action
    def CreateCrawler(self, payload: dict[str, Any]) -> dict[str, Any]:
        name = payload.get("Name") or ""
        if not name:
            raise AWSError("InvalidInputException", "Crawler name is required")
        if not payload.get("Targets", {}).get("S3Targets") and not payload.get("Targets"):
            raise AWSError("InvalidInputException", "Crawler targets are required")
        now = time.time()
        with self._lock:
            if name in self.crawlers:
                raise AWSError("AlreadyExistsException", f"{name} already exists.")
            crawler = {field: copy.deepcopy(payload[field]) for field in CRAWLER_FIELDS if field in payload}
            crawler.setdefault("SchemaChangePolicy", dict(DEFAULT_SCHEMA_CHANGE_POLICY))
            crawler.setdefault("RecrawlPolicy", {"RecrawlBehavior": "CRAWL_EVERYTHING"})
            crawler.setdefault("TablePrefix", "")
            _check_recrawl_policy(crawler)
            crawler.update(Name=name, State="READY", CrawlElapsedTime=0, CreationTime=now, LastUpdated=now,
                           Version=1)
            self.crawlers[name] = crawler
            self.crawler_metrics[name] = {"runtimes": [], "TablesCreated": 0, "TablesUpdated": 0,
                                          "TablesDeleted": 0}
            self._save_crawler(name)
        self._tag(f"arn:aws:glue:{REGION}:{ACCOUNT}:crawler/{name}", payload.get("Tags"))
        return {}

    @action
    def GetCrawler(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {"Crawler": self._crawler_view(self._crawler(payload.get("Name", "")))}

    def _crawler_view(self, crawler: dict[str, Any]) -> dict[str, Any]:
        view = copy.deepcopy(crawler)
        if view["State"] == "RUNNING":
            view["CrawlElapsedTime"] = int((time.time() - view["_started"]) * 1000)
        for field in PRIVATE_FIELDS:
            view.pop(field, None)
        return view

    @action
    def GetCrawlers(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            page, token = _page(sorted(self.crawlers), payload)
            result: dict[str, Any] = {"Crawlers": [self._crawler_view(self.crawlers[n]) for n in page]}
        if token:
            result["NextToken"] = token
        return result

    @action
    def BatchGetCrawlers(self, payload: dict[str, Any]) -> dict[str, Any]:
        names = payload.get("CrawlerNames", [])
        with self._lock:
            return {"Crawlers": [self._crawler_view(self.crawlers[n]) for n in names if n in self.crawlers],
                    "CrawlersNotFound": [n for n in names if n not in self.crawlers]}

    @action
    def ListCrawlers(self, payload: dict[str, Any]) -> dict[str, Any]:
        page, token = _page(sorted(self.crawlers), payload)
        return {"CrawlerNames": page, **({"NextToken": token} if token else {})}

    @action
    def UpdateCrawler(self, payload: dict[str, Any]) -> dict[str, Any]:
        name = payload.get("Name", "")
        with self._lock:
            crawler = self._crawler(name)
            if crawler["State"] != "READY":
                raise AWSError("CrawlerRunningException", f"Crawler with name {name} has already started")
            updated = {**crawler, **{field: copy.deepcopy(payload[field]) for field in CRAWLER_FIELDS
                                     if field in payload}}
            _check_recrawl_policy(updated)
            if any(updated.get(f) != crawler.get(f) for f in ("RecrawlPolicy", "Targets")):
                # AWS's first crawl after turning incremental crawls on reads everything: so does the next one here.
                updated.pop(CRAWLED_FOLDERS, None)
            crawler.clear()
            crawler.update(updated)
            crawler["LastUpdated"] = time.time()
            crawler["Version"] += 1
            self._save_crawler(name)
        return {}

    @action
    def DeleteCrawler(self, payload: dict[str, Any]) -> dict[str, Any]:
        name = payload.get("Name", "")
        with self._lock:
            if self._crawler(name)["State"] != "READY":
                raise AWSError("CrawlerRunningException", f"Crawler with name {name} is running")
            del self.crawlers[name], self.crawler_metrics[name]
            self._delete("crawlers", name)
        return {}

    @action
    def StartCrawler(self, payload: dict[str, Any]) -> dict[str, Any]:
        name = payload.get("Name", "")
        with self._lock:
            crawler = self._crawler(name)
            if crawler["State"] != "READY":
                raise AWSError("CrawlerRunningException", f"Crawler with name {name} has already started")
            crawler.update(State="RUNNING", _started=time.time(), CrawlElapsedTime=0)
            cancel = self._crawl_cancel[name] = threading.Event()
            self._save_crawler(name)
        threading.Thread(target=self._crawl, args=(name, cancel), name=f"crawl-{name}", daemon=True).start()
        return {}

    @action
    def StopCrawler(self, payload: dict[str, Any]) -> dict[str, Any]:
        name = payload.get("Name", "")
        with self._lock:
            crawler = self._crawler(name)
            if crawler["State"] != "RUNNING":
                raise AWSError("CrawlerNotRunningException", f"Crawler with name {name} isn't running")
            crawler["State"] = "STOPPING"
            self._crawl_cancel[name].set()
            self._save_crawler(name)
        return {}

    def _crawl(self, name: str, cancel: threading.Event) -> None:
        from local_aws.glue.crawler import CrawlError, run_crawl  # heavy imports (pyarrow) only when crawling

        with self._lock:
            crawler = copy.deepcopy(self.crawlers[name])
        started = crawler["_started"]
        known = crawler.get(CRAWLED_FOLDERS, [])
        status, error, metrics = "SUCCEEDED", None, None
        try:
            credentials = self._role_credentials(crawler.get("Role", ""), f"crawler-{name}")
            metrics = run_crawl(self.client("s3", credentials), self.client("glue", credentials), crawler, known)
        except AWSError as exc:  # the role cannot be assumed
            status, error = "FAILED", exc.message
        except CrawlError as exc:
            status, error = "FAILED", str(exc)
        except Exception as exc:  # reported in LastCrawl like AWS does; the stack keeps serving
            log.exception("Crawler %s failed", name)
            status, error = "FAILED", f"Internal Service Exception: {exc}"
        if cancel.is_set():
            status = "CANCELLED"
        elapsed = time.time() - started
        with self._lock:
            live = self.crawlers.get(name)
            if live is None:
                return
            live["State"] = "STOPPING"  # what AWS shows while it writes the crawl's results
            last_crawl = {"Status": status, "LogGroup": "/aws-glue/crawlers", "LogStream": name,
                          "MessagePrefix": secrets.token_hex(8), "StartTime": started}
            if error:
                last_crawl["ErrorMessage"] = error
            stats = self.crawler_metrics[name]
            stats["runtimes"].append(elapsed)
            if metrics is not None:
                stats.update(TablesCreated=metrics.tables_created, TablesUpdated=metrics.tables_updated,
                             TablesDeleted=metrics.tables_deleted)
            if metrics is not None and status == "SUCCEEDED" and _new_folders_only(live):
                # Only a whole crawl counts: a failed or stopped one leaves its folders to the next crawl.
                live[CRAWLED_FOLDERS] = sorted(set(known) | metrics.folders)
            live.update(State="READY", LastCrawl=last_crawl, CrawlElapsedTime=0)
            live.pop("_started", None)
            self._save_crawler(name)
        log.info("Crawler %s finished: %s in %.2f s %s", name, status, elapsed, error or "")

    @action
    def GetCrawlerMetrics(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            names = payload.get("CrawlerNameList") or sorted(self.crawlers)
            result = []
            for name in names:
                crawler, stats = self._crawler(name), self.crawler_metrics[name]
                runtimes = stats["runtimes"]
                result.append({
                    "CrawlerName": name, "TimeLeftSeconds": 0.0, "StillEstimating": crawler["State"] == "RUNNING",
                    "LastRuntimeSeconds": runtimes[-1] if runtimes else 0.0,
                    "MedianRuntimeSeconds": statistics.median(runtimes) if runtimes else 0.0,
                    "TablesCreated": stats["TablesCreated"], "TablesUpdated": stats["TablesUpdated"],
                    "TablesDeleted": stats["TablesDeleted"]})
        return {"CrawlerMetricsList": result}

    # --- jobs -------------------------------------------------------------------------------------------------
    def _job(self, name: str) -> dict[str, Any]:
        job = self.jobs.get(name)
        if job is None:
            raise _not_found("Job", name)
        return job

    @action
    def CreateJob(self, payload: dict[str, Any]) -> dict[str, Any]:
        name = payload.get("Name") or ""
        if not name or not payload.get("Role") or not payload.get("Command"):
            raise AWSError("InvalidInputException", "Name, Role and Command are required")
        now = time.time()
        with self._lock:
            if name in self.jobs:
                raise AWSError("IdempotentParameterMismatchException", f"Job {name} already exists")
            job = {field: copy.deepcopy(payload[field]) for field in JOB_FIELDS if field in payload}
            job.setdefault("ExecutionProperty", {"MaxConcurrentRuns": 1})
            job.setdefault("GlueVersion", "5.0")
            job.setdefault("MaxRetries", 0)
            job.setdefault("Timeout", 2880)
            job.update(Name=name, CreatedOn=now, LastModifiedOn=now)
            self.jobs[name] = job
            self._save("jobs", name, job)
        self._tag(f"arn:aws:glue:{REGION}:{ACCOUNT}:job/{name}", payload.get("Tags"))
        return {"Name": name}

    @action
    def GetJob(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {"Job": copy.deepcopy(self._job(payload.get("JobName", "")))}

    @action
    def GetJobs(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            page, token = _page(sorted(self.jobs), payload)
            return {"Jobs": [copy.deepcopy(self.jobs[n]) for n in page], **({"NextToken": token} if token else {})}

    @action
    def BatchGetJobs(self, payload: dict[str, Any]) -> dict[str, Any]:
        names = payload.get("JobNames", [])
        with self._lock:
            return {"Jobs": [copy.deepcopy(self.jobs[n]) for n in names if n in self.jobs],
                    "JobsNotFound": [n for n in names if n not in self.jobs]}

    @action
    def ListJobs(self, payload: dict[str, Any]) -> dict[str, Any]:
        page, token = _page(sorted(self.jobs), payload)
        return {"JobNames": page, **({"NextToken": token} if token else {})}

    @action
    def UpdateJob(self, payload: dict[str, Any]) -> dict[str, Any]:
        name = payload.get("JobName", "")
        update = payload.get("JobUpdate") or {}
        with self._lock:
            job = self._job(name)
            # UpdateJob replaces the definition: fields left out are reset, as AWS documents.
            replaced = {field: copy.deepcopy(update[field]) for field in JOB_FIELDS if field in update}
            replaced.setdefault("ExecutionProperty", {"MaxConcurrentRuns": 1})
            replaced.setdefault("GlueVersion", job.get("GlueVersion", "5.0"))
            replaced.update(Name=name, CreatedOn=job["CreatedOn"], LastModifiedOn=time.time())
            self.jobs[name] = replaced
            self._save("jobs", name, replaced)
        return {"JobName": name}

    @action
    def DeleteJob(self, payload: dict[str, Any]) -> dict[str, Any]:
        name = payload.get("JobName", "")
        with self._lock:
            if self.jobs.pop(name, None) is not None:
                self._delete("jobs", name)
        return {"JobName": name}  # AWS answers the same whether or not the job existed

    @action
    def StartJobRun(self, payload: dict[str, Any]) -> dict[str, Any]:
        name = payload.get("JobName", "")
        with self._lock:
            job = copy.deepcopy(self._job(name))
        credentials = self._role_credentials(job.get("Role", ""), f"job-{name}")
        with self._lock:
            limit = int(job.get("ExecutionProperty", {}).get("MaxConcurrentRuns", 1))
            active = [r for r in self.runs.values() if r["JobName"] == name and r["JobRunState"] not in TERMINAL_STATES]
            if len(active) >= limit:
                raise AWSError("ConcurrentRunsExceededException",
                               f"Concurrent runs exceeded for {name}: {len(active)} of {limit} allowed are running")
            run_id = "jr_" + secrets.token_hex(32)
            now = time.time()
            run = {"Id": run_id, "Attempt": 0, "JobName": name, "StartedOn": now, "LastModifiedOn": now,
                   "JobRunState": "STARTING", "Arguments": payload.get("Arguments") or {},
                   "PredecessorRuns": [], "ExecutionTime": 0, "Timeout": payload.get("Timeout", job.get("Timeout")),
                   "GlueVersion": job.get("GlueVersion"), "LogGroupName": "/aws-glue/jobs",
                   "ExecutionClass": payload.get("ExecutionClass", job.get("ExecutionClass", "STANDARD"))}
            for field in ("WorkerType", "NumberOfWorkers", "MaxCapacity"):
                if field in payload or field in job:
                    run[field] = payload.get(field, job.get(field))
            self.runs[run_id] = run
            self._save("job-runs", run_id, run)
            process = JobRunProcess(run=copy.deepcopy(run), job=job, endpoint=self.endpoint,
                                    work_dir=self.work_dir / "job-runs" / run_id, on_update=self._run_updated,
                                    client_factory=self.client, credentials=credentials)
            self.processes[run_id] = process
        process.start()
        return {"JobRunId": run_id}

    def _run_updated(self, run: dict[str, Any]) -> None:
        with self._lock:
            self.runs[run["Id"]] = copy.deepcopy(run)
            self._save("job-runs", run["Id"], run)
            if run["JobRunState"] in TERMINAL_STATES:
                self.processes.pop(run["Id"], None)

    def _run(self, job_name: str, run_id: str) -> dict[str, Any]:
        run = self.runs.get(run_id)
        if run is None or run["JobName"] != job_name:
            raise AWSError("EntityNotFoundException", f"Job Run Id {run_id} not found for job {job_name}")
        return run

    @action
    def GetJobRun(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._job(payload.get("JobName", ""))
            run = copy.deepcopy(self._run(payload.get("JobName", ""), payload.get("RunId", "")))
        if run["JobRunState"] not in TERMINAL_STATES:
            run["ExecutionTime"] = int(time.time() - run["StartedOn"])
        return {"JobRun": run}

    @action
    def GetJobRuns(self, payload: dict[str, Any]) -> dict[str, Any]:
        name = payload.get("JobName", "")
        with self._lock:
            self._job(name)
            runs = sorted((r for r in self.runs.values() if r["JobName"] == name),
                          key=lambda r: r["StartedOn"], reverse=True)
            page, token = _page(runs, payload)
            return {"JobRuns": copy.deepcopy(page), **({"NextToken": token} if token else {})}

    @action
    def BatchStopJobRun(self, payload: dict[str, Any]) -> dict[str, Any]:
        name = payload.get("JobName", "")
        stopped, errors = [], []
        for run_id in payload.get("JobRunIds", []):
            with self._lock:
                run = self.runs.get(run_id)
                process = self.processes.get(run_id)
            if run is None or run["JobName"] != name:
                errors.append({"JobName": name, "JobRunId": run_id, "ErrorDetail": {
                    "ErrorCode": "EntityNotFoundException", "ErrorMessage": f"Job Run Id {run_id} not found"}})
            elif process is None or run["JobRunState"] in TERMINAL_STATES:
                errors.append({"JobName": name, "JobRunId": run_id, "ErrorDetail": {
                    "ErrorCode": "InvalidInputException",
                    "ErrorMessage": f"Job Run {run_id} is already in state {run['JobRunState']}"}})
            else:
                process.stop("STOPPED", "Job run stopped by BatchStopJobRun.")
                stopped.append({"JobName": name, "JobRunId": run_id})
        return {"SuccessfulSubmissions": stopped, "Errors": errors}
