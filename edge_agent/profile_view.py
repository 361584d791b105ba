"""Device profiles as a technician reads them: `floodwatch-edge profile [NAME]`."""

from collections.abc import Iterable, Mapping

from rich import box
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table

from hardware_specs import BIT_TABLES, TERMINAL_ROLES, Profile, Register, SerialDefaults, Switchable, Wiring

BUS_NOTES = "hardware_specs/README.md"


def line_text(serial: SerialDefaults) -> str:
    """`9600 8N1`: baud rate, then data bits, parity and stop bits."""
    return f"{serial.baud} {serial.byte_size}{serial.parity}{serial.stop_bits}"


def profiles_table(profiles: Mapping[str, Profile]) -> Table:
    table = Table("profile", "model", "serial", "priority", title="device profiles (hardware_specs/profiles/)")
    for name in sorted(profiles):
        profile = profiles[name]
        table.add_row(name, escape(profile.model), line_text(profile.serial), str(profile.priority))
    return table


def profile_view(profile: Profile) -> Group:
    parts: list[RenderableType] = [
        f"[bold]{profile.name}[/bold]: {escape(profile.manufacturer)} {escape(profile.model)}",
        f"[dim]{escape(profile.source)}[/dim]",
        f"serial {line_text(profile.serial)}, priority {profile.priority},"
        f" up to {profile.max_registers_per_read} registers per read",
        *registers_tables(profile.registers),
    ]
    if profile.wiring is None:
        parts.append("[yellow]no wiring notes in this profile[/yellow]")
    else:
        parts += wiring_view(profile.wiring)
    parts += ["", f"Bus wiring (daisy chain, termination, bias, shield, A/B): {BUS_NOTES}"]
    return Group(*parts)


def registers_tables(registers: Iterable[Register]) -> list[RenderableType]:
    """One table per Modbus table (input, holding, discrete inputs, coils), as vendors' maps list them, and a line per
    register that is a bit, a counter, an enumeration or a second view of another's words."""
    parts: list[RenderableType] = []
    for kind in ("input", "holding", "discrete_input", "coil"):
        rows = [r for r in registers if r.table == kind]
        if not rows:
            continue
        title = f"{kind.replace('_', ' ')}{'s' if kind in BIT_TABLES else ' registers'}"
        table = _table(title, "register", "address", "type", "order", "scale", "unit", "range", "writable")
        table.columns[0].no_wrap = True
        for r in rows:
            scale = "-" if r.is_bit else f"{r.scale:g}" + (f" {r.offset:+g}" if r.offset else "")
            valid = f"{_number(r.valid_min)} .. {_number(r.valid_max)}"
            table.add_row(
                r.name,
                str(r.address),
                r.type.value,
                "-" if r.is_bit else r.byte_order.value,  # one bit: no order, nothing to scale
                scale,
                r.unit,
                valid,
                "yes" if r.writable else "",
            )
        parts.append(table)
        parts += [f"  {r.name}: {note}" for r in rows if (note := _register_notes(r))]
    return parts


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e10 else f"{value:g}"


def _table(title: str | None, *headers: str) -> Table:
    return Table(
        *headers, title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )


def _register_notes(r: Register) -> str:
    notes = []
    if r.bit is not None:
        notes.append(f"bit {r.bit}")
    if r.view_of is not None:
        notes.append(f"same register{'s' if r.count > 1 else ''} as {r.view_of}")
    if r.counter:
        notes.append(
            "counter, published as "
            + ("the increase since the previous reading" if r.counter_reports == "increment" else "the total")
        )
    if r.enum is not None:
        notes.append(", ".join(f"{code} {label}" for code, label in sorted(r.enum.items())))
    return "; ".join(notes)


def wiring_view(wiring: Wiring) -> list[RenderableType]:
    basis = (
        "typical of this kind of device, not from a vendor's datasheet: check the unit's label and manual"
        if wiring.basis == "typical"
        else "from the vendor's datasheet"
    )
    supply = f"supply {wiring.supply_v_min:g}–{wiring.supply_v_max:g} V DC, {wiring.current_ma:g} mA"
    if wiring.current_ma_peak is not None:
        supply += f" ({wiring.current_ma_peak:g} mA peak)"
    supply += f"; {wiring.unit_load:g} unit load on the bus"
    colour = "colour (typical)" if wiring.basis == "typical" else "colour"
    terminals = _table(None, "terminal", "is", colour, "note")
    for t in wiring.terminals:
        terminals.add_row(escape(t.label), TERMINAL_ROLES[t.role], escape(t.colour or "-"), escape(t.note or ""))
    cable = wiring.cable
    pairs = f"{cable.twisted_pairs} twisted pair{'s' if cable.twisted_pairs > 1 else ''}"
    shield = "shielded" if cable.shielded else "unshielded"
    termination = _switchable(wiring.termination, "if this device ends the bus, fit 120 Ω across A and B")
    return [
        "",
        f"[bold]Wiring[/bold] ({basis})",
        supply,
        terminals,
        f"120 Ω termination: {termination}",
        f"fail-safe bias: {_switchable(wiring.bias, 'one per bus, most USB adapters have it')}",
        f"cable (to the gateway or the next device): {pairs}, {cable.conductor_awg} AWG, {shield},"
        f" {cable.impedance_ohm} Ω",
        *(f"• {escape(note)}" for note in wiring.notes),
    ]


def _switchable(feature: Switchable, if_not_fitted: str) -> str:
    if not feature.fitted:
        return f"not built in ({if_not_fitted})"
    return f"built in, {escape(feature.switched_by or '')}, {feature.factory_setting} as shipped"
