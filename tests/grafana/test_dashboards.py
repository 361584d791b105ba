"""The committed dashboards: current with the code, valid against Grafana's schemas."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from grafana.cli import app
from grafana.generate import DASHBOARD_DIR, load_dashboards, stale_dashboards

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "grafana" / "schemas"
DASHBOARDS = load_dashboards()


def _schema(kind: str, definition: str | None = None) -> dict[str, Any]:
    schema = json.loads((SCHEMA_DIR / f"{kind}.jsonschema.json").read_text(encoding="utf-8"))
    if kind == "dashboard":
        _any_override_value(schema)
    if definition is not None:
        schema = {**schema, "$ref": f"#/definitions/{definition}"}
    return schema


def _any_override_value(schema: dict[str, Any]) -> None:
    """The export types an override's matcher `options` and property `value` as objects, which
    refuses every override Grafana writes (`{"id": "byName", "options": "Level"}`, `{"id": "unit",
    "value": "percent"}`). Grafana's own type for both is any value (the SDK's Go `any`, Python
    `Optional[object]`): the one correction made to the copied schema, here rather than in the
    file, which stays as published."""
    for definition, key in (("DynamicConfigValue", "value"), ("MatcherConfig", "options")):
        properties = schema["definitions"][definition]["properties"]
        assert properties[key]["type"] == "object", "the schema changed: review this correction"
        properties[key] = {}


def test_an_override_value_still_cannot_be_left_out_of_its_id() -> None:
    override = {"matcher": {"id": "byName", "options": "Last reading"}, "properties": [{"value": "dateTimeFromNow"}]}
    panel = DASHBOARDS["province_overview"]["panels"][1]
    broken = {
        **DASHBOARDS["province_overview"],
        "panels": [{**panel, "fieldConfig": {**panel["fieldConfig"], "overrides": [override]}}],
    }
    with pytest.raises(jsonschema.ValidationError, match="'id' is a required property"):
        jsonschema.validate(broken, _schema("dashboard"))


def test_the_stations_table_shows_the_last_readings_age() -> None:
    [stations] = [p for p in DASHBOARDS["province_overview"]["panels"] if p["type"] == "table"]
    [override] = stations["fieldConfig"]["overrides"]
    assert override["matcher"] == {"id": "byName", "options": "Last reading"}
    assert override["properties"] == [{"id": "unit", "value": "dateTimeFromNow"}]


def test_the_committed_json_is_what_the_code_builds() -> None:
    assert sorted(DASHBOARDS) == [
        "camera_cabinets",
        "gateway_fleet",
        "province_overview",
        "rainfall",
        "river_hydrographs",
    ]
    assert stale_dashboards() == []


def test_generate_check_names_a_stale_file(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["generate", "--out", str(tmp_path)]).exit_code == 0
    (tmp_path / "rainfall.json").write_text("{}\n", encoding="utf-8")
    result = runner.invoke(app, ["generate", "--check", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "rainfall.json" in result.output


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_validates_against_grafanas_schema(name: str) -> None:
    jsonschema.validate(DASHBOARDS[name], _schema("dashboard"))


@pytest.mark.parametrize(
    ("name", "panel"),
    [(name, panel) for name, model in sorted(DASHBOARDS.items()) for panel in model["panels"]],
    ids=lambda value: value if isinstance(value, str) else value["title"],
)
def test_each_panels_options_validate_against_its_kind(name: str, panel: dict[str, Any]) -> None:
    kind = panel["type"].replace("-", "")  # state-timeline -> statetimeline.jsonschema.json
    schema_file = SCHEMA_DIR / f"{kind}.jsonschema.json"
    assert schema_file.exists(), f"{name}: no schema for panel type {panel['type']!r}"
    jsonschema.validate(panel["options"], _schema(kind, "Options"))
    custom = panel["fieldConfig"]["defaults"].get("custom")
    if custom is not None and "FieldConfig" in _schema(kind)["definitions"]:
        jsonschema.validate(custom, _schema(kind, "FieldConfig"))


def test_a_broken_panel_is_refused_by_the_schema() -> None:
    """The check can fail: a geomap without layers is not a geomap Grafana accepts."""
    panel = next(p for p in DASHBOARDS["province_overview"]["panels"] if p["type"] == "geomap")
    broken = {k: v for k, v in panel["options"].items() if k != "layers"}
    with pytest.raises(jsonschema.ValidationError, match="layers"):
        jsonschema.validate(broken, _schema("geomap", "Options"))


def test_every_panel_reads_the_provisioned_datasource() -> None:
    provisioning = (DASHBOARD_DIR.parent / "provisioning" / "datasources" / "floodwatch.yaml").read_text()
    for model in DASHBOARDS.values():
        for panel in model["panels"]:
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "floodwatch-influxdb"
    assert "uid: floodwatch-influxdb" in provisioning
