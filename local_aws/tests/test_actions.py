"""The actions each data-plane service answers come from its @action methods; everything else goes to moto."""
from __future__ import annotations

from local_aws.actions import action, handlers
from local_aws.athena.api import AthenaService
from local_aws.glue.api import GlueService


def test_handlers_are_the_marked_methods_bound_to_the_service():
    class Service:
        @action
        def DoThing(self, payload):
            return {"got": payload, "by": self}

        def Helper(self, payload):  # not an action: moto would answer it
            return {}

    service = Service()
    assert list(handlers(service)) == ["DoThing"]
    assert handlers(service)["DoThing"]({"x": 1}) == {"got": {"x": 1}, "by": service}


def test_glue_and_athena_answer_exactly_their_data_plane_actions(tmp_path):
    glue = handlers(GlueService("http://127.0.0.1:1", None, work_dir=tmp_path))
    assert sorted(glue) == sorted([
        "CreateCrawler", "GetCrawler", "GetCrawlers", "BatchGetCrawlers", "ListCrawlers", "UpdateCrawler",
        "DeleteCrawler", "StartCrawler", "StopCrawler", "GetCrawlerMetrics", "CreateJob", "GetJob", "GetJobs",
        "BatchGetJobs", "ListJobs", "UpdateJob", "DeleteJob", "StartJobRun", "GetJobRun", "GetJobRuns",
        "BatchStopJobRun"])
    athena = AthenaService("http://127.0.0.1:1", None, cache_dir=tmp_path / "cache")
    try:
        assert sorted(handlers(athena)) == sorted([
            "GetWorkGroup", "StartQueryExecution", "GetQueryExecution", "BatchGetQueryExecution",
            "ListQueryExecutions", "GetQueryResults", "StopQueryExecution", "GetTableMetadata"])
    finally:
        athena.shutdown()
