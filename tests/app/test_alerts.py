"""Alerts with hysteresis, delivered to a real receiver on 127.0.0.1, on SQLite and
PostgreSQL: a rule fires once on crossing, not again while the forecast stays within its band,
and again once re-armed; deliveries are signed, carry one idempotency key however often they
are retried, and reach a receiver that was down once it comes back."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from app.alerts import armed_at, step
from app.forecasting import today

from ..postgres import free_port
from ..receiver import Receiver, receiving
from ..service import AUTH, BELARUS, CASE, FORECAST, REPORTS

ALERTS = f"/v1/cases/{CASE}/alerts"
OUTCOME = "direct_invasion"
FAST_RETRIES = {"alert_poll_seconds": 0.05, "alert_retry_seconds": 0.05}


def raising(source: str) -> dict[str, Any]:
    """A report that raises the probability of a direct invasion."""
    return {
        "indicator": "covert_mobilization",
        "value": "present",
        "observed_on": (today() - dt.timedelta(days=2)).isoformat(),
        "source": source,
        "grade": "B",
    }


def mean(forecast: dict[str, Any], outcome: str = OUTCOME) -> float:
    return float(next(p["mean"] for p in forecast["probabilities"] if p["outcome"] == outcome))


def post(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(REPORTS, json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    return dict(response.json())


def retract(client: TestClient, report_id: int) -> None:
    assert client.delete(f"{REPORTS}/{report_id}", headers=AUTH).status_code == 200


def subscribe(client: TestClient, **rule: Any) -> dict[str, Any]:
    response = client.post(ALERTS, json={"outcome": OUTCOME, **rule}, headers=AUTH)
    assert response.status_code == 201, response.text
    return dict(response.json())


def deliveries(client: TestClient, rule_id: int) -> list[dict[str, Any]]:
    response = client.get(f"{ALERTS}/{rule_id}/deliveries")
    assert response.status_code == 200, response.text
    return list(response.json())


def where(error: dict[str, Any]) -> str:
    """An error's location as dotted text."""
    return ".".join(map(str, error["loc"]))


def settled(client: TestClient, rule_id: int, seconds: float = 20) -> list[dict[str, Any]]:
    """The rule's deliveries once none is pending."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        log = deliveries(client, rule_id)
        if all(d["state"] != "pending" for d in log):
            return log
        time.sleep(0.05)
    raise AssertionError(f"still pending after {seconds} s: {log}")


@pytest.fixture
def alerting(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    """A client on a service that looks for due deliveries often and retries soon, holding the
    Belarus case."""
    with TestClient(make_app(**FAST_RETRIES)) as client:
        assert client.post("/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as listening:
        yield listening


def probe(client: TestClient) -> tuple[float, float]:
    """The probability before and after one raising report (posted, then retracted)."""
    before = mean(client.get(FORECAST).json())
    posted = post(client, raising("probe"))
    retract(client, posted["reports"][0]["id"])
    return before, mean(posted["forecast"])


def test_a_rule_fires_once_on_crossing_and_again_only_after_re_arming(
    alerting: TestClient, receiver: Receiver
) -> None:
    low, high = probe(alerting)
    threshold, rise = (low + high) / 2, high - low
    # Both cross when the report comes; back at `low`, only the narrow band re-arms.
    narrow = subscribe(alerting, url=receiver.url, threshold=threshold, band=rise / 4)
    wide = subscribe(alerting, url=receiver.url, threshold=threshold, band=rise)
    assert narrow["armed"] and wide["armed"] and narrow["created_by"] == "admin"
    first = post(alerting, raising("first"))
    retract(alerting, first["reports"][0]["id"])  # back to `low`: within the wide band
    post(alerting, raising("second"))
    assert [len(settled(alerting, rule["id"])) for rule in (narrow, wide)] == [2, 1]
    received = receiver.wait_for(3)
    assert len(received) == 3
    listed = {rule["id"]: rule for rule in alerting.get(ALERTS).json()}
    assert not listed[narrow["id"]]["armed"] and not listed[wide["id"]]["armed"]
    assert listed[wide["id"]]["last_delivery"]["state"] == "delivered"
    log = settled(alerting, narrow["id"])  # newest first, a page at a time
    assert log[0]["id"] > log[1]["id"]
    page = alerting.get(f"{ALERTS}/{narrow['id']}/deliveries", params={"limit": 1})
    assert page.json() == log[:1]
    last = alerting.get(page.links["next"]["url"])
    assert last.json() == log[1:] and "next" not in last.links


def test_a_delivery_is_signed_and_says_what_moved_the_forecast(
    alerting: TestClient, receiver: Receiver
) -> None:
    low, high = probe(alerting)
    rule = subscribe(alerting, url=receiver.url, threshold=(low + high) / 2)
    posted = post(alerting, raising("the crossing report"))
    [delivery] = settled(alerting, rule["id"])
    [sent] = receiver.wait_for(1)
    assert sent.signed_with(rule["secret"]) and not sent.signed_with("another secret")
    payload = sent.payload
    assert sent.headers["idempotency-key"] == payload["delivery"] == delivery["idempotency_key"]
    assert payload["case"] == {"id": CASE, "title": BELARUS["title"]}
    assert payload["old_probability"] == pytest.approx(low)
    assert payload["new_probability"] == pytest.approx(mean(posted["forecast"]))
    assert payload["cause"] == "reports" and payload["reports_changed"] == 1
    report_id = posted["reports"][0]["id"]
    [mover] = payload["moved_by"]
    assert mover["indicator"] == "covert_mobilization" and mover["added"] == [report_id]
    # With one report, the share it moved is the whole move.
    assert mover["change"] == pytest.approx(high - low, abs=1e-9)
    assert payload["link"].startswith("http://127.0.0.1:8000/?as_of=")
    assert payload["link"].endswith(f"#{CASE}")
    assert delivery["state"] == "delivered" and delivery["attempts"] == 1
    assert delivery["last_status"] == 200 and delivery["payload"]["delivery"] == payload["delivery"]


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_an_alert_a_write_fires_is_sent_at_once_not_at_the_next_look(
    make_app: Callable[..., FastAPI], receiver: Receiver, writer: str
) -> None:
    """The process that fired the alert holds its lease from the start and sends it when the
    write commits: with a minute between looks at the outbox, it still arrives in seconds. A
    writer in a process of its own hands the alert to the serving process's delivery."""
    with TestClient(make_app(alert_poll_seconds=60, writer=writer)) as client:
        assert client.post("/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        low, high = probe(client)
        rule = subscribe(client, url=receiver.url, threshold=(low + high) / 2)
        post(client, raising("the crossing report"))
        [sent] = receiver.wait_for(1, seconds=10)
        [delivery] = settled(client, rule["id"], seconds=10)
    assert delivery["state"] == "delivered" and delivery["attempts"] == 1
    assert sent.headers["idempotency-key"] == delivery["idempotency_key"]


def test_a_receiver_that_is_down_gets_the_alert_when_it_comes_back(alerting: TestClient) -> None:
    port = free_port()
    low, high = probe(alerting)
    rule = subscribe(alerting, url=f"http://127.0.0.1:{port}/hook", threshold=(low + high) / 2)
    post(alerting, raising("while the receiver is down"))
    deadline = time.monotonic() + 20
    while (log := deliveries(alerting, rule["id"]))[0]["attempts"] < 2:
        assert time.monotonic() < deadline, log
        time.sleep(0.05)
    assert log[0]["state"] == "pending" and "ConnectError" in log[0]["last_error"]
    with receiving(port) as back:
        [sent] = back.wait_for(1)
        [delivery] = settled(alerting, rule["id"])
    assert delivery["state"] == "delivered" and delivery["attempts"] >= 3
    assert sent.headers["idempotency-key"] == delivery["idempotency_key"]


def test_a_failing_receiver_is_retried_with_the_same_key_then_given_up(
    make_app: Callable[..., FastAPI], receiver: Receiver
) -> None:
    receiver.status = 500
    with TestClient(make_app(**FAST_RETRIES, alert_attempts=3)) as client:
        assert client.post("/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        low, high = probe(client)
        rule = subscribe(client, url=receiver.url, threshold=(low + high) / 2)
        post(client, raising("to a failing receiver"))
        [delivery] = settled(client, rule["id"])
    assert delivery["state"] == "abandoned" and delivery["attempts"] == 3
    assert delivery["last_error"] == "the receiver answered HTTP 500"
    keys = {sent.headers["idempotency-key"] for sent in receiver.wait_for(3)}
    assert keys == {delivery["idempotency_key"]}


def test_a_crossing_by_too_few_reports_or_by_ageing_alone_fires_only_if_asked(
    alerting: TestClient, receiver: Receiver
) -> None:
    """A historical case's clock moved on ages its reports: no report changes, so only the
    rule asking for ageing (min_reports 0) fires; and a rule needing two reports does not fire
    on one."""
    clock = f"/v1/cases/{CASE}/clock"
    observed = (today() - dt.timedelta(days=60)).isoformat()
    post(alerting, raising("ageing") | {"observed_on": observed, "known_at": observed})

    def at(day: dt.date) -> float:
        moved = alerting.put(clock, json={"clock": day.isoformat()}, headers=AUTH)
        assert moved.status_code == 200, moved.text
        return mean(moved.json())

    later, earlier = at(today()), at(today() - dt.timedelta(days=50))
    threshold = (earlier + later) / 2
    assert earlier > threshold > later  # the report fades as it ages
    rule = {"url": receiver.url, "threshold": threshold, "direction": "down", "band": 0.001}
    by_reports = subscribe(alerting, **rule)
    by_anything = subscribe(alerting, **rule, min_reports=0)
    at(today())
    assert settled(alerting, by_reports["id"]) == []
    [fired] = settled(alerting, by_anything["id"])
    assert fired["payload"]["cause"] == "clock" and fired["payload"]["moved_by"] == []
    assert fired["payload"]["reports_changed"] == 0
    listed = {r["id"]: r for r in alerting.get(ALERTS).json()}
    assert not listed[by_reports["id"]]["armed"]  # crossed all the same: waits to re-arm


def test_a_rule_needing_more_reports_than_a_write_brings_does_not_fire(
    alerting: TestClient, receiver: Receiver
) -> None:
    low, high = probe(alerting)
    rule = subscribe(alerting, url=receiver.url, threshold=(low + high) / 2, min_reports=2)
    post(alerting, raising("one report"))
    assert settled(alerting, rule["id"]) == []


def test_a_rule_made_past_its_threshold_waits_to_re_arm(
    alerting: TestClient, receiver: Receiver
) -> None:
    now = mean(alerting.get(FORECAST).json())
    rule = subscribe(alerting, url=receiver.url, threshold=now / 2)
    assert not rule["armed"]
    post(alerting, raising("already past"))
    assert settled(alerting, rule["id"]) == []


def test_a_stopped_rule_fires_no_more_and_stays_listed(
    alerting: TestClient, receiver: Receiver
) -> None:
    low, high = probe(alerting)
    rule = subscribe(alerting, url=receiver.url, threshold=(low + high) / 2)
    stopped = alerting.delete(f"{ALERTS}/{rule['id']}", headers=AUTH)
    assert stopped.status_code == 200 and stopped.json()["deleted_by"] == "admin"
    post(alerting, raising("after the rule stopped"))
    assert settled(alerting, rule["id"]) == []
    [listed] = alerting.get(ALERTS).json()
    assert listed["deleted_at"] is not None and "secret" not in listed and "url" not in listed
    assert listed["receiver"] == receiver.url.removesuffix("/hook")
    actions = [entry["action"] for entry in alerting.get("/v1/audit", headers=AUTH).json()]
    assert actions[:2] == ["reports.add", "alert.delete"] and "alert.create" in actions


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"band": 0.5, "threshold": 0.4}, "body", "leaves no room to re-arm"),
        ({"direction": "down", "band": 0.3, "threshold": 0.8}, "body", "no room to re-arm"),
        ({"url": "ftp://example.org/x"}, "body.url", "http:// or https://"),
        ({"url": "https://user:pw@example.org/x"}, "body.url", "no credentials"),
        ({"threshold": 1}, "body.threshold", "less than 1"),
        ({"outcome": "coup"}, "body.outcome", "no_entry"),
        ({"secret": "short"}, "body.secret", "at least 16"),
        ({"min_reports": -1}, "body.min_reports", "greater than or equal to 0"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(
    alerting: TestClient, change: dict[str, Any], field: str, reason: str
) -> None:
    rule = {"url": "https://alerts.example.org/x", "outcome": OUTCOME, "threshold": 0.3} | change
    response = alerting.post(ALERTS, json=rule, headers=AUTH)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert where(error).startswith(field) and reason in error["msg"]
    assert alerting.get(ALERTS).json() == []


def test_an_operator_may_limit_the_hosts_alerts_go_to(
    make_app: Callable[..., FastAPI], receiver: Receiver
) -> None:
    with TestClient(make_app(alert_hosts=["127.0.0.1"])) as client:
        assert client.post("/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        elsewhere = {"url": "https://alerts.example.org/x", "outcome": OUTCOME, "threshold": 0.3}
        refused = client.post(ALERTS, json=elsewhere, headers=AUTH)
        assert refused.status_code == 422
        [error] = refused.json()["detail"]
        assert where(error) == "body.url" and "only to 127.0.0.1" in error["msg"]
        subscribe(client, url=receiver.url, threshold=0.3)


def test_rules_need_an_analyst_and_a_known_case(alerting: TestClient) -> None:
    rule = {"url": "https://alerts.example.org/x", "outcome": OUTCOME, "threshold": 0.3}
    reader = alerting.post("/v1/keys", json={"name": "rita", "role": "reader"}, headers=AUTH)
    as_reader = {"Authorization": f"Bearer {reader.json()['secret']}"}
    assert alerting.post(ALERTS, json=rule, headers=as_reader).status_code == 403
    assert alerting.post(ALERTS, json=rule).status_code == 401
    assert alerting.post("/v1/cases/nowhere/alerts", json=rule, headers=AUTH).status_code == 404
    assert alerting.get(f"{ALERTS}/7/deliveries").status_code == 404
    assert alerting.delete(f"{ALERTS}/7", headers=AUTH).status_code == 404
    assert alerting.get(ALERTS).json() == []


@given(
    st.lists(st.floats(0, 1), max_size=60),
    st.floats(0.05, 0.95),
    st.floats(0, 0.2),
    st.sampled_from(["up", "down"]),
)
def test_hysteresis_fires_exactly_at_each_crossing_after_re_arming(
    path: list[float], threshold: float, band: float, direction: str
) -> None:
    """Over any path of probabilities: a rule fires when it is past its threshold having
    been back past the band since its last firing (or its making), and at no other time."""
    sign = 1 if direction == "up" else -1
    past = [sign * (p - threshold) >= 0 for p in path]
    back = [sign * (p - threshold) < -band for p in path]
    start = 0.5 if not path else path[0]
    armed = armed_at(direction, threshold, start)
    expected_armed, fired, expected = armed, [], []
    for p, is_past, is_back in zip(path, past, back, strict=True):
        armed, crossed = step(direction, threshold, band, armed, p)
        fired.append(crossed)
        expected.append(expected_armed and is_past)
        expected_armed = (expected_armed and not is_past) or (not expected_armed and is_back)
        assert armed == expected_armed
    assert fired == expected
