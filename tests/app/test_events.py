"""Pushed updates and metrics: a report posted to any replica reaches every open event stream
within 2 s; `/metrics` parses as Prometheus text and its gauges match the forecast endpoint."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import CaseGauges

from ..postgres import emptied
from ..service import (
    AUTH,
    BELARUS,
    CASE,
    FORECAST,
    REPORTS,
    every_item,
    report,
    service_of,
    serving,
)

PUSH_SECONDS = 2.0
"""How soon a report posted anywhere must reach every open page."""


def events(stream: httpx.Response) -> Iterator[dict[str, str]]:
    """The stream's events, each as its fields (comment lines and `retry` skipped)."""
    fields: dict[str, str] = {}
    for line in stream.iter_lines():
        if not line:
            if "data" in fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def post_report(url: str, **change: Any) -> None:
    response = httpx.post(f"{url}{REPORTS}", json=report(**change), headers=AUTH)
    assert response.status_code == 201, response.text


@pytest.mark.system
def test_a_report_posted_to_one_replica_reaches_streams_on_another(
    artifact_path: Path, postgres_url: str
) -> None:
    database = emptied(postgres_url)
    with serving(artifact_path, database) as first, serving(artifact_path, database) as second:
        assert httpx.post(f"{first}/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        timeout = httpx.Timeout(10, read=PUSH_SECONDS + 1)
        with httpx.stream("GET", f"{second}/v1/cases/{CASE}/events", timeout=timeout) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            received = events(stream)
            now = next(received)
            assert now["event"] == "forecast"
            assert now["id"] == httpx.get(f"{second}{FORECAST}").headers["etag"]
            posted_at = time.monotonic()
            post_report(first)
            changed, pushed = next(received), next(received)
            assert time.monotonic() - posted_at < PUSH_SECONDS
        assert json.loads(pushed["data"])["reports_used"] == 1
        assert pushed["id"] == httpx.get(f"{first}{FORECAST}").headers["etag"]
        # What changed with it comes first, leading from the forecast the page had to this one.
        assert changed["event"] == "changes" and "id" not in changed
        changes = json.loads(changed["data"])
        assert (changes["since"], changes["until"]) == (now["id"], pushed["id"])
        history = httpx.get(f"{first}{FORECAST}/history").json()
        assert changes["history"] == history[-1:]
        assert changes["reports"] == every_item(f"{first}{REPORTS}")


@pytest.mark.system
def test_a_resumed_stream_sends_only_what_is_new(artifact_path: Path, tmp_path: Path) -> None:
    with serving(artifact_path, f"sqlite:///{tmp_path / 'events.db'}") as url:
        assert httpx.post(f"{url}/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        seen = httpx.get(f"{url}{FORECAST}").headers["etag"]
        resume = {"Last-Event-ID": seen}
        timeout = httpx.Timeout(10, read=PUSH_SECONDS + 1)
        with httpx.stream(
            "GET", f"{url}/v1/cases/{CASE}/events", headers=resume, timeout=timeout
        ) as stream:
            post_report(url, indicator="pretext_claims")
            received = events(stream)
            changed, first = next(received), next(received)
        assert first["id"] != seen and json.loads(first["data"])["reports_used"] == 1
        assert json.loads(changed["data"])["since"] == seen  # it leads from what the page had
        retracted = every_item(f"{url}{REPORTS}")[0]
        with httpx.stream(
            "GET",
            f"{url}/v1/cases/{CASE}/events",
            headers={"Last-Event-ID": first["id"]},
            timeout=timeout,
        ) as stream:
            answer = httpx.delete(f"{url}{REPORTS}/{retracted['id']}", headers=AUTH)
            assert answer.status_code == 200
            changed = next(events(stream))
        [report_now] = json.loads(changed["data"])["reports"]
        assert report_now["id"] == retracted["id"] and report_now["retracted_at"] is not None


def test_events_of_an_unknown_case_are_404(client: TestClient) -> None:
    answer = client.get("/v1/cases/nowhere/events")
    assert answer.status_code == 404 and "no case 'nowhere'" in answer.text


def scrape(client: TestClient) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of `/metrics`, by metric name and labels (parsed by Prometheus's parser)."""
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


@pytest.fixture
def with_reports(case: TestClient) -> TestClient:
    case.post(REPORTS, json=[report(), report(indicator="troop_shortfall")], headers=AUTH)
    retracted = case.post(REPORTS, json=report(indicator="rhetoric_shift"), headers=AUTH)
    case.delete(f"{REPORTS}/{retracted.json()['reports'][0]['id']}", headers=AUTH)
    return case


def test_metrics_gauges_match_the_forecast(with_reports: TestClient) -> None:
    forecast = with_reports.get(FORECAST).json()
    samples = scrape(with_reports)
    probability = samples["escalation_outcome_probability"]
    for p in forecast["probabilities"]:
        assert probability[(("case_id", CASE), ("outcome", p["outcome"]))] == p["mean"]
    assert samples["escalation_case_reports"][(("case_id", CASE),)] == 2  # one was retracted
    newest = max(r["received_at"] for r in with_reports.get(REPORTS).json())
    last = samples["escalation_case_last_report_timestamp_seconds"][(("case_id", CASE),)]
    assert last == pytest.approx(_unix(newest), abs=1e-3)
    (age,) = samples["escalation_model_age_seconds"].values()
    assert age > 0


def test_metrics_count_requests_per_route(with_reports: TestClient) -> None:
    with_reports.get(FORECAST)
    with_reports.get("/v1/cases/nowhere/forecast")
    samples = scrape(with_reports)
    route = "/v1/cases/{case_id}/forecast"
    requests = samples["escalation_http_requests_total"]
    assert requests[(("method", "GET"), ("route", route), ("status", "200"))] >= 1
    assert requests[(("method", "GET"), ("route", route), ("status", "404"))] == 1
    posts = (("method", "POST"), ("route", REPORTS.replace(CASE, "{case_id}")), ("status", "201"))
    assert requests[posts] == 2
    latency = samples["escalation_http_request_duration_seconds_count"]
    assert latency[(("method", "GET"), ("route", route))] >= 2


def test_a_scrape_serves_the_gauges_built_before_while_a_build_is_slow(
    with_reports: TestClient,
) -> None:
    """A scrape waits for the case gauges it sets building only so long (here not at all); it
    then serves the ones built before, and a later scrape gets the new ones."""
    service = service_of(with_reports)
    gauges = CaseGauges(service.sessions, wait=0.0)
    artifact_id = service.model().artifact.id

    async def scrapes() -> tuple[bytes, bytes, bytes]:
        first = await gauges.text(artifact_id)  # nothing built yet: it waits
        more = report(indicator="pretext_claims")
        await asyncio.to_thread(with_reports.post, REPORTS, json=more, headers=AUTH)
        stale = await gauges.text(artifact_id)
        for _ in range(500):
            await asyncio.sleep(0.01)
            if (fresh := await gauges.text(artifact_id)) != first:
                return first, stale, fresh
        raise AssertionError("the gauges were never built again")

    first, stale, fresh = asyncio.run(scrapes())
    counted = f'escalation_case_reports{{case_id="{CASE}"}}'
    assert f"{counted} 2.0" in first.decode() and stale == first
    assert f"{counted} 3.0" in fresh.decode()


def _unix(timestamp: str) -> float:
    return dt.datetime.fromisoformat(timestamp).timestamp()
