"""Runs, in OpenHTF itself, a test equivalent to one rigor attempt and writes OpenHTF's own JSON
with OutputToJSON, for rigor-results' export test to compare against field by field.

Usage: openhtf_reference.py SPEC.json OUT.json
SPEC: {"dut_id", "test_name", "test_version", "station_id",
       "phases": [{"name", "measurements": [{"name", "value", "low", "high", "unit"}]}]}
"""
import json
import sys

import openhtf as htf
from openhtf.core import test_record
from openhtf.output.callbacks import json_factory
from openhtf.util import units

UNITS = {"V": units.VOLT, "A": units.AMPERE, "Hz": units.HERTZ}


def make_phase(spec, dut_id):
    def phase(test):
        test.dut_id = dut_id
        for m in spec["measurements"]:
            test.measurements[m["name"]] = m["value"]

    phase.__name__ = spec["name"]
    for m in spec["measurements"]:
        meas = htf.Measurement(m["name"])
        if m.get("low") is not None or m.get("high") is not None:
            meas = meas.in_range(minimum=m.get("low"), maximum=m.get("high"))
        if m.get("unit") in UNITS:
            meas = meas.with_units(UNITS[m["unit"]])
        phase = htf.measures(meas)(phase)
    return htf.PhaseOptions(name=spec["name"])(phase)


def main():
    spec = json.load(open(sys.argv[1]))
    htf.conf.load(station_id=spec["station_id"])
    phases = [make_phase(p, spec["dut_id"]) for p in spec["phases"]]
    test = htf.Test(*phases, test_name=spec["test_name"], test_version=spec["test_version"])
    test.add_output_callbacks(json_factory.OutputToJSON(sys.argv[2], indent=2))
    test.execute()


main()
