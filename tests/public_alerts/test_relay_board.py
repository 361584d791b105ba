"""The simulated siren relay board answers the frames of Waveshare's published protocol as the board does.

Raw Modbus TCP frames (MBAP header + the PDU of the manual's RTU examples, less unit id and
CRC) to the pymodbus server that serves the `waveshare_modbus_rtu_relay_d` profile: relay 1
on with function 05 and FF00 (the answer echoes the request), read back with function 01
(bit 0 of one byte), off again with 0000; the digital inputs read with function 02; and no
holding register where the board has none (exception 02, illegal data address).
"""

import asyncio
import struct

from devstack.replay_data import Series
from devstack.station_sim import ReplayClock, StationSimulator
from hardware_specs import load_profiles

UNIT = 1


async def _ask(port: int, pdu: bytes, transaction: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(struct.pack(">HHHB", transaction, 0, len(pdu) + 1, UNIT) + pdu)
        await writer.drain()
        header = await asyncio.wait_for(reader.readexactly(7), 5)
        tid, protocol, length, unit = struct.unpack(">HHHB", header)
        assert (tid, protocol, unit) == (transaction, 0, UNIT)
        return await asyncio.wait_for(reader.readexactly(length - 1), 5)
    finally:
        writer.close()
        await writer.wait_closed()


def test_relay_one_on_read_back_and_off_with_the_manuals_frames() -> None:
    async def run() -> tuple[dict[str, bytes], dict[int, int]]:
        board = await StationSimulator(
            load_profiles()["waveshare_modbus_rtu_relay_d"], Series("x", (0.0,), (0.0,)), ReplayClock(0, 1), 0
        ).start()
        try:
            frames = {
                "relay_1_on": bytes.fromhex("05 0000 FF00"),
                "read_relays": bytes.fromhex("01 0000 0008"),
                "read_inputs": bytes.fromhex("02 0000 0008"),
                "relay_1_off": bytes.fromhex("05 0000 0000"),
                "read_relays_again": bytes.fromhex("01 0000 0008"),
                "holding_0": bytes.fromhex("03 0000 0001"),
            }
            answers = {}
            for n, (name, pdu) in enumerate(frames.items(), start=1):
                answers[name] = await _ask(board.port, pdu, n)
            return answers, dict(board.written_coils)
        finally:
            await board.stop()

    answers, kept = asyncio.run(run())
    assert answers["relay_1_on"] == bytes.fromhex("05 0000 FF00")  # the echo of the request
    assert answers["read_relays"] == bytes.fromhex("01 01 01")  # one byte, bit 0: relay 1 on
    assert answers["read_inputs"] == bytes.fromhex("02 01 00")  # no input active
    assert answers["relay_1_off"] == bytes.fromhex("05 0000 0000")
    assert answers["read_relays_again"] == bytes.fromhex("01 01 00")
    assert answers["holding_0"] == bytes.fromhex("83 02")  # illegal data address
    assert kept == {0: 0}  # the last write is kept: relay 1 off, no other coil touched
