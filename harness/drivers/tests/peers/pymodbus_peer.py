#!/usr/bin/env python3
"""A Modbus server rigor did not write: pymodbus, serving the register maps of three shipped
instrument models, for rigor-drivers' cross-check tests (tests/pymodbus.rs).

    pymodbus_peer.py tcp                               # on a free port of 127.0.0.1
    pymodbus_peer.py rtu PATH BAUD PARITY STOP_BITS    # e.g. rtu /dev/pts/4 9600 N 1

Units, as on rigs/rack-a.yaml's RS-485 line:
  1  Riden RD6006 supply   (rigs/instruments/riden-rd6006.yaml): holding registers
  2  Eastron SDM120 meter  (rigs/instruments/eastron-sdm120.yaml): float input registers
  3  Waveshare relay board (rigs/instruments/waveshare-relay-8.yaml): coils 0..7
Only the registers the maps name exist; any other address answers exception 2.

Once serving it prints one line, `ready tcp 127.0.0.1:PORT` or `ready rtu PATH`, then answers
commands on stdin that go to pymodbus's datastore directly, not through Modbus:
  get UNIT FUNCTION ADDRESS COUNT    ->  values V...   (FUNCTION: 1 coils, 2 discrete, 3 holding, 4 input)
  set UNIT FUNCTION ADDRESS V...     ->  ok
either may answer `error CODE` instead. It exits when stdin closes.

If pymodbus is missing it exits with status 3 and says how to install it.
"""

import asyncio
import sys

REQUIREMENTS = "harness/drivers/tests/requirements-peers.txt"

try:
    from pymodbus import __version__ as pymodbus_version
    from pymodbus.constants import ExcCodes
    from pymodbus.server import ModbusSerialServer, ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice
except ImportError as exc:
    print(
        f"pymodbus is not installed ({exc}): pip install -r {REQUIREMENTS}",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(3)


def riden():
    """RD6006: model number, V-SET 5.00 V, I-SET 1.000 A, V-OUT 12.34 V, I-OUT 0.072 A,
    P-OUT 655.52 W (u32 over 12-13), V-IN 24.00 V, protection 0, output off."""
    regs = lambda address, values: SimData(address, values=values, datatype=DataType.REGISTERS)
    return SimDevice(
        1,
        simdata=[
            regs(0, [60062]),
            regs(8, [500, 1000, 1234, 72, 0x0001, 0x0010, 2400]),
            regs(16, [0]),
            regs(18, [0]),
        ],
    )


def meter():
    """SDM120: IEEE-754 singles, high word first, encoded by pymodbus."""
    f32 = lambda address, value: SimData(address, values=value, datatype=DataType.FLOAT32)
    return SimDevice(
        2,
        simdata=[
            f32(0x0000, 230.5),  # voltage
            f32(0x0006, 0.25),  # current
            f32(0x000C, 57.625),  # active power
            f32(0x001E, -0.5),  # power factor
            f32(0x0046, 50.0),  # frequency
        ],
    )


def relays():
    """Waveshare relay board: 8 coils, addressed by bit."""
    return SimDevice(
        3,
        simdata=[SimData(0, values=[False] * 16, datatype=DataType.BITS)],
        use_bit_addressing=True,
    )


def parse_values(function, words):
    values = [int(w, 0) for w in words]
    return [bool(v) for v in values] if function in (1, 2) else values


async def command(server, line):
    parts = line.split()
    if not parts:
        return None
    verb, unit, function, address = parts[0], int(parts[1]), int(parts[2]), int(parts[3])
    store = server.context
    if verb == "get":
        got = await store.async_getValues(unit, function, address, int(parts[4]))
        if isinstance(got, ExcCodes):
            return f"error {int(got)}"
        return "values " + " ".join(str(int(v)) for v in got)
    if verb == "set":
        failed = await store.async_setValues(
            unit, function, address, parse_values(function, parts[4:])
        )
        return f"error {int(failed)}" if failed else "ok"
    return f"error unknown command {verb!r}"


async def main(argv):
    devices = [riden(), meter(), relays()]
    if argv[:1] == ["tcp"]:
        server = ModbusTcpServer(devices, address=("127.0.0.1", 0))
    elif argv[:1] == ["rtu"] and len(argv) == 5:
        path, baud, parity, stop = argv[1], int(argv[2]), argv[3], int(argv[4])
        server = ModbusSerialServer(
            devices, port=path, baudrate=baud, parity=parity, stopbits=stop, bytesize=8
        )
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if not await server.listen():
        print(f"pymodbus {pymodbus_version} could not listen", file=sys.stderr, flush=True)
        return 1
    if argv[0] == "tcp":
        host, port = server.transport.sockets[0].getsockname()[:2]
        print(f"ready tcp {host}:{port}", flush=True)
    else:
        print(f"ready rtu {argv[1]}", flush=True)
    while line := await asyncio.to_thread(sys.stdin.readline):
        try:
            answer = await command(server, line)
        except (IndexError, ValueError) as exc:
            answer = f"error {exc}"
        if answer is not None:
            print(answer, flush=True)
    await server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
