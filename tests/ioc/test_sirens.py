"""The desk runs the automatic sirens and tells the operators: a BĐ3 warning from the broker, a
gateway that never answers, and the warning's audit trail says the siren did not sound."""

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from centre.influx import InfluxV1
from devstack.services import InfluxDB, Mosquitto
from ioc.accounts import Role
from ioc.desk import Desk
from ioc.sirens import siren_service
from public_alerts.policy import SAMPLE_POLICY
from public_alerts.sirens import command_id_for
from tests.ioc.conftest import LiveApp, ioc_config, publish_warning, wait_for, warning_message
from tests.ioc.test_api import Send, active_warnings, logged_in


def test_a_siren_whose_gateway_is_offline_is_in_the_warnings_audit_trail(
    tmp_path: Path, mosquitto: Mosquitto, influx_db: InfluxV1, influxdb: InfluxDB, unique_name: str, publish: Send
) -> None:
    policy = yaml.safe_load(SAMPLE_POLICY.read_text())
    policy["channels"]["le_thuy_sirens"].update(gateway=f"gw-{unique_name}", deadline_s=1)
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True))
    config = ioc_config(
        f"sqlite:///{tmp_path / 'ioc.sqlite'}", mosquitto, influxdb, f"ioc-{unique_name}", influx_db.database
    ).model_copy(update={"public_policy": tmp_path / "policy.yaml"})
    app = LiveApp(Desk(config)).start()
    service = siren_service(app.desk, resend_s=0.2).start()
    try:
        assert service.connected.wait(10) and app.desk.feed.consumer.connected.wait(10)
        viewer = logged_in(app, "hoa", Role.viewer)
        publish_warning(publish, warning_message(level=3, previous=2))
        wait_for(lambda: active_warnings(viewer), what="the BĐ3 warning")
        [warning] = active_warnings(viewer)

        def trail() -> list[tuple[str, str]]:
            audit = viewer.get(f"/api/warnings/{warning['id']}").json()["audit"]
            return [(entry["actor"], entry["action"]) for entry in audit]

        wait_for(lambda: ("sirens", "siren_no_answer") in trail(), what="the siren's outcome in the audit trail")
        detail = viewer.get(f"/api/warnings/{warning['id']}").json()["audit"][-1]["detail"]
    finally:
        service.stop()
        app.stop()
    assert detail["gateway"] == f"gw-{unique_name}" and detail["sends"] >= 2
    assert "no result from gateway" in detail["detail"]
    assert len(service.commanded) == 1


def _operator_sirens(unique_name: str, *, siren_only: bool) -> dict[str, Any]:
    """The sample policy with the Lệ Thủy siren route needing an operator (and, `siren_only`, no other route)."""
    policy: dict[str, Any] = yaml.safe_load(SAMPLE_POLICY.read_text())
    policy["channels"]["le_thuy_sirens"].update(gateway=f"gw-{unique_name}", deadline_s=1)
    [siren_route] = [route for route in policy["routes"] if route["channel"] == "le_thuy_sirens"]
    siren_route["approval"] = "operator"
    if siren_only:  # no feed, no webhook: the warning reaches only the sirens
        policy["routes"] = [siren_route]
    return policy


@pytest.mark.parametrize("siren_only", [False, True], ids=["with_feed", "siren_only"])
def test_a_siren_that_needs_an_operator_waits_for_approval_then_the_sender_and_dispatcher_send_it(
    tmp_path: Path,
    mosquitto: Mosquitto,
    influx_db: InfluxV1,
    influxdb: InfluxDB,
    unique_name: str,
    publish: Send,
    siren_only: bool,
) -> None:
    policy = _operator_sirens(unique_name, siren_only=siren_only)
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True))
    config = ioc_config(
        f"sqlite:///{tmp_path / 'ioc.sqlite'}", mosquitto, influxdb, f"ioc-{unique_name}", influx_db.database
    ).model_copy(update={"public_policy": tmp_path / "policy.yaml"})
    app = LiveApp(Desk(config)).start()
    service = siren_service(app.desk, resend_s=0.2).start()
    public = httpx.Client(base_url=app.url, timeout=10)
    try:
        assert service.connected.wait(10) and app.desk.feed.consumer.connected.wait(10)
        viewer = logged_in(app, "hoa", Role.viewer)
        operator = logged_in(app, "lan", Role.operator)
        bd3 = warning_message(level=3, previous=2)
        publish_warning(publish, bd3)
        wait_for(lambda: viewer.get("/api/public/alerts?state=draft").json(), what="the draft")
        [draft] = viewer.get("/api/public/alerts?state=draft").json()
        assert ("le_thuy_sirens" in draft["channels"]) and (("cap_feed" in draft["channels"]) != siren_only)
        [warning] = active_warnings(viewer)
        command_id = command_id_for(bd3.warning_id, "le_thuy_sirens")
        assert app.desk.siren_commands.record(command_id) is None  # a draft commands nothing

        def trail() -> list[tuple[str, str]]:
            audit = viewer.get(f"/api/warnings/{warning['id']}").json()["audit"]
            return [(entry["actor"], entry["action"]) for entry in audit]

        approved = operator.post(f"/api/warnings/{warning['id']}/approve")
        assert approved.status_code == 200, approved.text
        assert approved.json()["state"] == "approved"
        wait_for(lambda: ("sirens", "siren_no_answer") in trail(), what="the approved siren's outcome")
        record = app.desk.siren_commands.record(command_id)
        [sent] = viewer.get("/api/public/alerts?state=sent").json()
        entries = public.get("/public/alerts.atom").text.count("<entry>")
        steps = trail()
    finally:
        service.stop()
        app.stop()
    assert record is not None and record.sends >= 2  # sent by the dispatcher, resent until the deadline
    assert (sent["approved_by"], sent["msg_type"] is None) == ("lan", siren_only)
    assert entries == (0 if siren_only else 1)  # a siren-only approval puts nothing in the feed
    sending = ("sender", "sent") if siren_only else ("sender", "published")
    assert steps.index(("lan", "approved")) < steps.index(sending) < steps.index(("sender", "siren_commanded"))
    assert steps.index(("sender", "siren_commanded")) < steps.index(("sirens", "siren_no_answer"))
    assert service.commanded == []  # the automatic path did not sound it
