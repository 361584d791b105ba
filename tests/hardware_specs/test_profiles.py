"""Device profiles: the shipped ones load; broken ones are refused naming file, line and key."""

from pathlib import Path

import pytest

from hardware_specs import PROFILES_DIR, load_profile, load_profiles
from typed_config import ConfigError

GOOD = """\
name: gauge
manufacturer: x
model: y
source: test
registers:
  - name: level
    address: 0
    type: float32
    quantity: water_level
    unit: m
    valid_min: 0
    valid_max: 10
"""


def test_shipped_profiles_load() -> None:
    profiles = load_profiles()
    assert {"river_level_radar", "rain_gauge_tipping"} <= set(profiles)
    level = profiles["river_level_radar"].register("level")
    assert (level.type.value, level.byte_order.value, level.unit) == ("float32", "CDAB", "m")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("type: float32", "type: float16"), r"gauge.yaml:8 registers.0.type: Input should be 'int16'"),
        (("unit: m", "unit: cm"), r"registers.0: Value error, quantity 'water_level' has unit 'm', not 'cm'"),
        (("valid_max: 10", "valid_max: -1"), r"valid_min must be below valid_max"),
        (("address: 0", "address: 65535"), r"runs past register 65535"),
        (("address: 0", "adress: 0"), r"gauge.yaml:7 registers.0.adress: unknown key; did you mean 'address'\?"),
        (("quantity: water_level", "quantity: flow"), r"quantity 'flow' is not in the wire contract"),
    ],
)
def test_broken_profiles_are_refused(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = tmp_path / "gauge.yaml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(ConfigError, match=message):
        load_profile(path)


def test_overlapping_registers_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "gauge.yaml"
    second = "\n".join(
        line.replace("name: level", "name: level2").replace("address: 0", "address: 1")
        for line in GOOD.splitlines()[5:]
    )
    path.write_text(GOOD + second + "\n")
    with pytest.raises(ConfigError, match="registers 'level' and 'level2' overlap"):
        load_profile(path)


def test_file_name_must_match_profile_name(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text(GOOD)
    with pytest.raises(ConfigError, match="must equal the file name 'other'"):
        load_profiles(tmp_path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gauge.yaml"
    path.write_text(GOOD + "  - [unclosed\n")
    with pytest.raises(ConfigError, match=r"gauge.yaml:\d+: not valid YAML"):
        load_profile(path)


def test_every_shipped_profile_states_its_line_its_writable_registers_and_its_source() -> None:
    for path in sorted(PROFILES_DIR.glob("*.yaml")):
        text = path.read_text()
        profile = load_profile(path)
        assert "\nserial:" in text, f"{path.name}: serial defaults must be written out"
        # a node's settings are its config keys (PROTOCOL.md), not registers
        assert profile.protocol == "floodwatch_node" or any(r.writable for r in profile.registers), path.name
        assert "Modelled, not copied" in profile.source or "register map" in profile.source, path.name
    assert {"river_level_radar", "rain_gauge_tipping", "camera_cabinet_health"} <= set(load_profiles())
    profiles = load_profiles()
    assert profiles["river_level_radar"].priority > profiles["rain_gauge_tipping"].priority
    assert profiles["rain_gauge_tipping"].priority > profiles["camera_cabinet_health"].priority


BITS = (
    GOOD.replace("type: float32", "type: uint16\n    bit: 3")
    .replace("water_level", "door_open")
    .replace("unit: m", "unit: bool")
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BITS.replace("uint16", "float32"), "a bit field needs type uint16 or int16"),
        (GOOD.replace("type: float32", "type: int32\n    counter: true"), "a counter must be unsigned"),
        (GOOD + "  - {name: again, view_of: nothing, address: 0, type: float32, quantity: water_level, unit: m,"
         " valid_min: 0, valid_max: 1}\n", "view_of 'nothing' is not a register"),
        (GOOD + "  - {name: again, view_of: level, address: 2, type: float32, quantity: water_level, unit: m,"
         " valid_min: 0, valid_max: 1}\n", "must have the address, table and size of 'level'"),
    ],
)  # fmt: skip
def test_bit_fields_counters_and_views_are_checked(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "gauge.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_profile(path)


@pytest.mark.parametrize(
    ("enum_yaml", "message"),
    [
        ("    enum: {0: ok, 1: fault}\n", r"an enum needs an integer type, scale 1 and offset 0"),
        ("    enum: {0: ok, 1: Fault}\n", r"registers.0.enum.1: String should match pattern"),
        ("    enum: {}\n", r"enum must list at least one code"),
    ],
)
def test_broken_enums_are_refused(tmp_path: Path, enum_yaml: str, message: str) -> None:
    path = tmp_path / "gauge.yaml"
    path.write_text(GOOD + enum_yaml)  # GOOD's one register is a float32
    with pytest.raises(ConfigError, match=message):
        load_profile(path)


def test_enum_codes_must_lie_in_the_valid_range(tmp_path: Path) -> None:
    path = tmp_path / "gauge.yaml"
    text = GOOD.replace("type: float32", "type: uint16").replace(
        "quantity: water_level\n    unit: m", "quantity: device_state\n    unit: code"
    )
    path.write_text(text + "    enum: {0: ok, 12: fault}\n")
    with pytest.raises(ConfigError, match=r"enum codes \[12\] lie outside valid_min..valid_max"):
        load_profile(path)


WIRING = """\
wiring:
  basis: typical
  supply_v_min: 10
  supply_v_max: 30
  current_ma: 20
  terminals:
    - {label: "V+", role: supply_plus, colour: brown}
    - {label: "0V", role: supply_0v, colour: black}
    - {label: "A", role: rs485_a, colour: yellow}
    - {label: "B", role: rs485_b, colour: blue}
  termination: {fitted: true, switched_by: DIP switch 1, factory_setting: "off"}
  bias: {fitted: false}
  cable: {twisted_pairs: 2, conductor_awg: 24, shielded: true}
"""


def test_every_shipped_profile_says_how_to_wire_it() -> None:
    for profile in load_profiles().values():
        wiring = profile.wiring
        assert wiring is not None, f"{profile.name}: no wiring section"
        roles = {t.role.value for t in wiring.terminals}
        assert {"rs485_a", "rs485_b", "supply_plus", "supply_0v"} <= roles, profile.name
        assert wiring.notes, f"{profile.name}: no mounting notes"
        # a modelled profile cannot claim its wiring came from a vendor
        if "Modelled, not copied" in profile.source:
            assert wiring.basis == "typical", profile.name


def test_a_wiring_section_loads(tmp_path: Path) -> None:
    path = tmp_path / "gauge.yaml"
    path.write_text(GOOD + WIRING)
    wiring = load_profile(path).wiring
    assert wiring is not None
    assert (wiring.supply_v_min, wiring.supply_v_max, wiring.current_ma, wiring.unit_load) == (10, 30, 20, 1.0)
    assert wiring.termination.switched_by == "DIP switch 1" and not wiring.bias.fitted
    assert [t.colour for t in wiring.terminals] == ["brown", "black", "yellow", "blue"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("supply_v_min: 10", "supply_v_mn: 10"),
         r"gauge.yaml:15 wiring.supply_v_mn: unknown key; did you mean 'supply_v_min'\?"),
        (("shielded: true}", "shielded: true, screened: true}"),
         r"gauge.yaml:\d+ wiring.cable.screened: Extra inputs are not permitted"),
        (("role: rs485_b", "role: rs485_minus"), r"wiring.terminals.3.role: Input should be 'rs485_a'"),
        (("supply_v_max: 30", "supply_v_max: 5"),
         r"wiring: Value error, supply_v_min \(10 V\) must be below supply_v_max \(5 V\)"),
        (("label: \"B\", role: rs485_b", "label: \"B\", role: rs485_a"), r"exactly one rs485_a, found 2"),
        (("label: \"B\"", "label: \"A\""), r"terminal labels repeat: \['A'\]"),
        ((", switched_by: DIP switch 1", ""), r"wiring.termination: Value error, a fitted termination or bias needs"),
        (("bias: {fitted: false}", "bias: {fitted: false, factory_setting: \"on\"}"),
         r"wiring.bias: Value error, switched_by and factory_setting are for a fitted"),
        (("current_ma: 20", "current_ma: 0"), r"wiring.current_ma: Input should be greater than 0"),
    ],
)  # fmt: skip
def test_broken_wiring_is_refused_naming_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = tmp_path / "gauge.yaml"
    path.write_text(GOOD + WIRING.replace(*change))
    with pytest.raises(ConfigError, match=message):
        load_profile(path)


COILS = (
    GOOD + "  - {name: relay, table: coil, address: 0, type: bool, quantity: poe_on, unit: bool,"
    " valid_min: 0, valid_max: 1, writable: true}\n"
    + "  - {name: door, table: discrete_input, address: 0, type: bool, quantity: door_open, unit: bool,"
    " valid_min: 0, valid_max: 1}\n"
)


def test_coils_and_discrete_inputs_load(tmp_path: Path) -> None:
    path = tmp_path / "gauge.yaml"
    path.write_text(COILS)
    profile = load_profile(path)
    relay, door = profile.register("relay"), profile.register("door")
    assert (relay.table, relay.count, relay.is_bit, relay.writable) == ("coil", 1, True, True)
    assert (door.table, door.count, door.is_bit) == ("discrete_input", 1, True)
    assert not profile.register("level").is_bit


@pytest.mark.parametrize(
    ("change", "register", "message"),
    [
        (("type: bool, quantity: door_open", "type: uint16, quantity: door_open"), "door",
         "a discrete_input is one bit: type bool, not uint16"),
        (("address: 0, type: bool, quantity: poe_on", "address: 0, type: bool, scale: 2, quantity: poe_on"), "relay",
         "a coil is one bit \\(0 or 1\\): scale make no sense on it"),
        (("address: 0, type: bool, quantity: poe_on", "address: 0, type: bool, byte_order: CDAB, quantity: poe_on"),
         "relay", "byte_order make no sense"),
        (("door_open, unit: bool, valid_min: 0, valid_max: 1}", "door_open, unit: bool, valid_min: 0, valid_max: 1,"
          " writable: true}"), "door", "a discrete input is read-only \\(function 2\\): writable: true is for a coil"),
        (("table: coil", "table: holding"), "relay", "type bool is for the coil and discrete_input tables"),
        (("quantity: poe_on, unit: bool", "quantity: water_level, unit: m"), "relay", "its quantity needs unit 'bool'"),
    ],
)  # fmt: skip
def test_bit_tables_refuse_what_makes_no_sense_at_its_line(
    tmp_path: Path, change: tuple[str, str], register: str, message: str
) -> None:
    text = COILS.replace(*change)
    assert text != COILS
    path = tmp_path / "gauge.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as refused:
        load_profile(path)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if f"name: {register}," in row)
    assert f"gauge.yaml:{line}" in str(refused.value), refused.value


def test_coils_overlap_only_coils(tmp_path: Path) -> None:
    path = tmp_path / "gauge.yaml"
    path.write_text(COILS + COILS.splitlines(keepends=True)[-2].replace("name: relay", "name: relay2"))
    with pytest.raises(ConfigError, match="registers 'relay' and 'relay2' overlap in the coil table"):
        load_profile(path)
