#!/usr/bin/env python3
"""A Modbus client rigor did not write: pymodbus, doing to the virtual bench's instruments what
tools written against the real ones do (tests/instruments.rs).

    pymodbus_client.py tcp HOST PORT OP...
    pymodbus_client.py rtu PATH BAUD OP...

Each OP is one request; the client prints one line per OP, in order:
  read:UNIT:ADDRESS:COUNT        holding registers (FC3)   ->  values V...
  coils:UNIT:ADDRESS:COUNT       coils (FC1)               ->  values 0|1...
  write-coils:UNIT:ADDRESS:BITS  write multiple coils (FC15), BITS like 1011  ->  ok
any of them may answer `exception CODE` (the device's exception) or `silence` (no answer within
the client's timeout).

If pymodbus is missing it exits with status 3 and says how to install it.
"""

import sys

REQUIREMENTS = "harness/drivers/tests/requirements-peers.txt"

try:
    from pymodbus.client import ModbusSerialClient, ModbusTcpClient
    from pymodbus.exceptions import ModbusIOException
except ImportError as exc:
    print(f"pymodbus is not installed ({exc}): pip install -r {REQUIREMENTS}", file=sys.stderr)
    sys.exit(3)

# Long enough for a loaded CI machine to answer; a silent unit costs this once per request.
TIMEOUT = 2.0


def answer(response):
    if isinstance(response, ModbusIOException):
        return "silence"
    if response.isError():
        return f"exception {response.exception_code}"
    return None


def run(client, op):
    kind, unit, address, arg = op.split(":")
    unit, address = int(unit), int(address)
    try:
        if kind == "read":
            r = client.read_holding_registers(address, count=int(arg), device_id=unit)
            return answer(r) or "values " + " ".join(str(v) for v in r.registers)
        if kind == "coils":
            r = client.read_coils(address, count=int(arg), device_id=unit)
            return answer(r) or "values " + " ".join(str(int(b)) for b in r.bits[: int(arg)])
        if kind == "write-coils":
            r = client.write_coils(address, [b == "1" for b in arg], device_id=unit)
            return answer(r) or "ok"
    except ModbusIOException:
        return "silence"
    raise SystemExit(f"unknown op {op}")


def main():
    transport, *rest = sys.argv[1:]
    if transport == "tcp":
        host, port, *ops = rest
        client = ModbusTcpClient(host, port=int(port), timeout=TIMEOUT, retries=0)
    else:
        path, baud, *ops = rest
        client = ModbusSerialClient(path, baudrate=int(baud), timeout=TIMEOUT, retries=0)
    if not client.connect():
        raise SystemExit(f"cannot connect over {transport} to {rest[:2]}")
    for op in ops:
        print(run(client, op), flush=True)
    client.close()


main()
