"""The API against the live app: the real broker feeds it, InfluxDB holds the readings."""

import hashlib
import time
from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa

from centre.influx import InfluxV1
from centre.line_protocol import Point, encode_points
from devstack.services import InfluxDB
from ioc.accounts import Role
from ioc.schema import Session
from tests.ioc.conftest import PASSWORD, LiveApp, listen_for_change, publish_warning, wait_for, warning_message
from wire_contract import WARNINGS_TOPIC, GatewayStatus, encode_status, status_topic

Send = Callable[[str, bytes, bool], None]


def logged_in(app: LiveApp, username: str, role: Role) -> httpx.Client:
    app.add_user(username, role)
    client = httpx.Client(base_url=app.url, timeout=10)
    response = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


def active_warnings(client: httpx.Client) -> list[dict]:
    return client.get("/api/warnings", params={"active": True}).json()["warnings"]


def test_the_feed_takes_each_transition_once_and_operators_act_on_it(live_app: LiveApp, publish: Send) -> None:
    operator = logged_in(live_app, "lan", Role.operator)
    viewer = logged_in(live_app, "hoa", Role.viewer)
    raised = warning_message(level=2)
    for _ in range(3):  # at least once: the same transition three times
        publish_warning(publish, raised)
    publish(WARNINGS_TOPIC, b'{"v": 1, "warning_id": "x"}', False)  # breaks the contract: refused, counted
    wait_for(lambda: live_app.desk.feed.outcomes.total() == 4, what="the feed to take four messages")
    assert live_app.desk.feed.outcomes == {"raised": 1, "repeat": 2, "refused": 1}
    [warning] = active_warnings(viewer)
    assert (warning["station"], warning["level"], warning["state"]) == ("le_thuy", 2, "raised")

    refused = viewer.post(f"/api/warnings/{warning['id']}/acknowledge", json={"note": ""})
    assert refused.status_code == 403 and "needs operator" in refused.json()["detail"]
    done = operator.post(f"/api/warnings/{warning['id']}/acknowledge", json={"note": "called the district"})
    assert done.status_code == 200 and done.json()["acknowledged_by"] == "lan"
    again = operator.post(f"/api/warnings/{warning['id']}/acknowledge", json={"note": ""})
    assert again.status_code == 409 and "already acknowledged by lan" in again.json()["detail"]
    silenced = operator.post(f"/api/warnings/{warning['id']}/silence", json={"reason": "known", "duration_min": 30})
    assert silenced.json()["silenced_by"] == "lan"
    too_long = operator.post(f"/api/warnings/{warning['id']}/silence", json={"reason": "x", "duration_min": 10_000})
    assert too_long.status_code == 422

    detail = viewer.get(f"/api/warnings/{warning['id']}").json()
    assert [(e["actor"], e["action"]) for e in detail["audit"]] == [
        ("rules", "raised"),
        ("system", "public_draft"),  # BĐ2 at Lệ Thủy goes public once an operator approves it
        ("lan", "acknowledged"),
        ("lan", "silenced"),
    ]
    assert detail["audit"][2]["detail"]["note"] == "called the district"

    publish_warning(publish, warning_message(level=0, previous=2, ts_ms=raised.ts_ms + 1000))
    wait_for(lambda: not active_warnings(viewer), what="the all clear")
    past = viewer.get("/api/warnings", params={"active": False}).json()
    assert past["total"] == 1 and past["warnings"][0]["state"] == "resolved"
    assert viewer.get("/api/warnings/999999").status_code == 404


def test_login_is_needed_limited_and_expires(live_app: LiveApp) -> None:
    anonymous = httpx.Client(base_url=live_app.url, timeout=10)
    assert anonymous.get("/api/warnings").status_code == 401
    live_app.add_user("minh", Role.operator)
    for _ in range(live_app.desk.config.auth.login_max_failures):
        wrong = anonymous.post("/api/login", json={"username": "minh", "password": "not it"})
        assert wrong.status_code == 401
    throttled = anonymous.post("/api/login", json={"username": "minh", "password": PASSWORD})
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0

    live_app.add_user("tuan", Role.viewer)  # another user from the same address: refused too, for a while
    other = anonymous.post("/api/login", json={"username": "tuan", "password": PASSWORD})
    assert other.status_code == 429
    live_app.desk.limiter.window_s = 0.001  # the window has passed
    time.sleep(0.01)
    token = anonymous.post("/api/login", json={"username": "tuan", "password": PASSWORD}).headers["x-session-token"]
    bearer = httpx.Client(base_url=live_app.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert bearer.get("/api/me").json() == {"username": "tuan", "role": "viewer", "expires_ms": None}
    with live_app.desk.sessions.begin() as db:
        db.execute(sa.update(Session).values(expires_ms=0))
    live_app.desk.callers.ttl_s = 0.0  # past the few seconds a looked-up token is trusted without the database
    assert bearer.get("/api/me").status_code == 401
    with live_app.desk.sessions() as db:
        hashes = db.scalars(sa.select(Session.token_sha256)).all()
    assert token not in hashes  # only the token's hash is kept


def test_gateways_from_the_retained_status_topic(live_app: LiveApp, publish: Send, unique_name: str) -> None:
    viewer = logged_in(live_app, "hoa", Role.viewer)
    now = int(time.time() * 1000)
    # the broker is shared by the whole run: other tests' gateways are retained on it too
    ok, busy, gone = (f"{unique_name}-{name}" for name in ("ok", "backlog", "gone"))
    well = GatewayStatus(gateway=ok, state="online", ts_ms=now, buffer_depth=0, clock_synced=True)
    backlog = GatewayStatus(
        gateway=busy,
        state="online",
        ts_ms=now,
        buffer_depth=50_000,
        oldest_unsent_age_s=3600.0,
        device_errors={"level": 3},
    )
    offline = GatewayStatus(gateway=gone, state="offline")
    for status in (well, backlog, offline):
        publish(status_topic(status.gateway), encode_status(status), True)

    def ours(path: str, **params: object) -> dict[str, list[str]]:
        listed = viewer.get(path, params=params).json()
        return {g["gateway"]: g["troubles"] for g in listed if g["gateway"].startswith(unique_name)}

    wait_for(lambda: len(ours("/api/gateways")) == 3, what="three gateways")
    assert ours("/api/gateways", trouble=True) == {busy: ["buffer", "unsent", "device_errors"], gone: ["offline"]}


def test_stations_and_readings_from_influxdb(live_app: LiveApp, influxdb: InfluxDB, influx_db: InfluxV1) -> None:
    viewer = logged_in(live_app, "hoa", Role.viewer)
    now = int(time.time() * 1000) // 1000 * 1000
    tags = {"station": "le_thuy", "sensor": "le_thuy.level", "gateway": "gw-le-thuy-01"}
    raw = [
        Point("water_level", tags, {"value": 1.0 + i / 100, "quality": "good"}, now - (10 - i) * 60_000)
        for i in range(10)
    ]
    influx_db.write(raw)
    hourly = [
        Point("water_level", tags, {"mean": 2.0, "min": 1.9, "max": 2.1, "sum": 24.0, "count": 12}, now - h * 3600_000)
        for h in range(1, 200)
    ]
    httpx.post(
        f"{influx_db.url}/write",
        params={"db": influx_db.database, "rp": "rollup_1h", "precision": "ms"},
        content=encode_points(hourly),
        auth=influxdb.credentials("writer"),  # what the rollup CQ would write; the app reads as `reader`
    ).raise_for_status()

    live_app.desk.readings.refresh_latest()
    board = viewer.get("/api/stations").json()
    le_thuy = next(s for s in board["stations"] if s["station"] == "le_thuy")
    assert le_thuy["levels"]["bd2_m"] == 2.2
    [latest] = le_thuy["readings"]
    assert (latest["sensor"], latest["value"], latest["quality"]) == ("le_thuy.level", 1.09, "good")
    assert 60 <= latest["age_s"] < 120

    day = viewer.get("/api/stations/le_thuy/readings", params={"from_ms": now - 86400_000, "to_ms": now}).json()
    assert day["resolution"] == "raw" and len(day["sensors"]["le_thuy.level"]) == 10
    assert day["thresholds_m"] == [1.2, 2.2, 2.7]
    month = viewer.get("/api/stations/le_thuy/readings", params={"from_ms": now - 30 * 86400_000, "to_ms": now})
    assert month.json()["resolution"] == "1h" and len(month.json()["sensors"]["le_thuy.level"]) == 199
    assert month.json()["sensors"]["le_thuy.level"][0][1:] == [2.0, 1.9, 2.1]
    year = viewer.get("/api/stations/le_thuy/readings", params={"from_ms": now - 365 * 86400_000, "to_ms": now})
    assert year.json()["resolution"] == "1d"
    assert viewer.get("/api/stations/nowhere/readings").status_code == 404
    backwards = viewer.get("/api/stations/le_thuy/readings", params={"from_ms": now, "to_ms": now - 1})
    assert backwards.status_code == 422


def test_rules_lists_the_live_files_and_level_versions(live_app: LiveApp) -> None:
    viewer = logged_in(live_app, "hoa", Role.viewer)
    rules = viewer.get("/api/rules").json()
    [rule_file] = rules["rule_files"]
    assert rule_file["rules"] >= 1 and len(rule_file["sha256"]) == 64
    stations = {v["station"] for v in rules["alarm_level_versions"] if v["in_effect"]}
    assert {"le_thuy", "kim_long", "phu_oc"} <= stations
    assert viewer.get("/api/rules/files/0").status_code == 403  # the text is for rule authors
    author = logged_in(live_app, "thu", Role.rule_author)
    text = author.get("/api/rules/files/0")
    assert text.status_code == 200 and "le_thuy_level" in text.json()["text"]
    assert hashlib.sha256(text.json()["text"].encode()).hexdigest() == rule_file["sha256"]
    assert author.get("/api/rules/files/1").status_code == 404


def test_changes_are_pushed_as_server_sent_events(live_app: LiveApp, publish: Send) -> None:
    viewer = logged_in(live_app, "hoa", Role.viewer)
    first_change = listen_for_change(viewer)
    message = warning_message(station="kim_long", level=3)
    publish_warning(publish, message)
    change = first_change()
    assert change["audit"]["action"] == "raised" and change["warning"]["station"] == "kim_long"
    assert change["audit"]["detail"]["transition_id"] == message.warning_id
    # A page that reconnects says the last event it saw and is sent what it missed.
    missed = listen_for_change(viewer, last_event_id=change["audit"]["id"] - 1)()
    assert missed == change


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"username": "Robert'); DROP TABLE users;--", "password": "x"}, 422),
        ({"username": "lan"}, 422),
        ({"username": "lan", "password": "x", "extra": 1}, 422),
    ],
)
def test_bad_logins_are_refused_with_a_reason(live_app: LiveApp, body: dict, status: int) -> None:
    response = httpx.post(f"{live_app.url}/api/login", json=body)
    assert response.status_code == status and response.json()["detail"]
