"""Reads an STDF file with two readers rigor did not write and prints every record as JSON.

Usage: read_stdf.py FILE.stdf
Output: {"pystdf": [[type, {field: value}], ...], "semi_ate": [[type, {field: value}], ...]}
"""
import json
import sys


def with_pystdf(path):
    from pystdf.IO import Parser

    records = []

    class Sink:
        def after_begin(self, source):
            pass

        def after_send(self, source, data):
            rectype, fields = data
            names = [name for name, _ in rectype.fieldMap]
            records.append([type(rectype).__name__, dict(zip(names, fields))])

        def after_complete(self, source):
            pass

    with open(path, "rb") as f:
        parser = Parser(inp=f)
        parser.addSink(Sink())
        parser.parse()
    return records


def with_semi_ate(path):
    from Semi_ATE.STDF import utils

    records = []
    for rec in utils.records_from_file(path):
        fields = {}
        for name in rec.get_fields():
            if name in ("REC_LEN", "REC_TYP", "REC_SUB"):
                continue
            fields[name] = rec.get_value(name)
        records.append([rec.id, fields])
    return records


def plain(value):
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def main():
    path = sys.argv[1]
    out = {"pystdf": with_pystdf(path), "semi_ate": with_semi_ate(path)}
    for reader in out.values():
        for record in reader:
            record[1] = {k: plain(v) for k, v in record[1].items()}
    json.dump(out, sys.stdout, default=str)


main()
