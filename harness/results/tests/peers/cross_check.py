"""Independent numbers for rigor-results' tests: loads the CSV export with pandas, and the store
itself with sqlite3 + pandas, and recomputes yield, capability and I-MR limits with numpy.

Usage: cross_check.py STORE.db TALL.csv LIMITS.csv SPC_MEASUREMENT
Prints JSON.
"""
import json
import sqlite3
import sys

import numpy as np
import pandas as pd


def load_csv(tall_path, limits_path):
    tall = pd.read_csv(
        tall_path,
        dtype={"serial": "string", "fixture": "string", "firmware": "string",
               "text_value": "string", "unit": "string", "failure_class": "string"},
        parse_dates=["started_at", "measured_at"],
    )
    limits = pd.read_csv(limits_path, dtype={"unit": "string"})
    return tall, limits


def capability(tall):
    rows = []
    numeric = tall[tall["value"].notna()]
    keys = ["measurement", "generation", "firmware", "limits_sha256"]
    for key, g in numeric.groupby(keys, sort=True, dropna=False):
        x = g["value"].to_numpy(dtype=float)  # CSV order is recording order
        n = len(x)
        mean = float(np.mean(x))
        so = float(np.std(x, ddof=1)) if n > 1 else None
        mr = np.abs(np.diff(x))
        sw = float(np.mean(mr) / 1.128) if n > 1 else None
        low = g["low"].iloc[0]
        high = g["high"].iloc[0]
        lo = None if pd.isna(low) else float(low)
        hi = None if pd.isna(high) else float(high)

        def index(s):
            if not s:
                return None
            sides = []
            if lo is not None:
                sides.append((mean - lo) / (3 * s))
            if hi is not None:
                sides.append((hi - mean) / (3 * s))
            return min(sides) if sides else None

        rows.append({"measurement": key[0], "generation": key[1], "n": n, "mean": mean,
                     "sigma_overall": so, "sigma_within": sw, "cpk": index(sw), "ppk": index(so)})
    return rows


def yields(store):
    con = sqlite3.connect(store)
    runs = pd.read_sql_query(
        "SELECT r.unit_serial, r.scenario_name, r.attempt, e.outcome, e.failure_class "
        "FROM runs r JOIN run_ends e ON e.run_id = r.id", con)
    con.close()
    judged = runs[(runs["outcome"] == "pass") | (runs["failure_class"] == "device")]
    first = judged.sort_values("attempt").groupby(["scenario_name", "unit_serial"]).first()
    out = {}
    for scenario, g in first.groupby(level=0):
        passed_any = judged[(judged["scenario_name"] == scenario) & (judged["outcome"] == "pass")]
        out[scenario] = {
            "judged": int(len(g)),
            "first_pass_yield": float((g["outcome"] == "pass").mean()),
            "final_yield": float(passed_any["unit_serial"].nunique() / len(g)),
        }
    return out


def spc(tall, name):
    g = tall[(tall["measurement"] == name) & tall["value"].notna()]
    g = g.sort_values(["measured_at", "run_id"], kind="stable")
    x = g["value"].to_numpy(dtype=float)
    mr = np.mean(np.abs(np.diff(x)))
    center = float(np.mean(x))
    return {"center": center, "ucl": center + 3 * mr / 1.128, "lcl": center - 3 * mr / 1.128,
            "mr_ucl": float(3.267 * mr)}


def main():
    store, tall_path, limits_path, name = sys.argv[1:5]
    tall, limits = load_csv(tall_path, limits_path)
    out = {
        "dtypes": {c: str(t) for c, t in tall.dtypes.items()},
        "limits_dtypes": {c: str(t) for c, t in limits.dtypes.items()},
        "rows": int(len(tall)),
        "limits_rows": int(len(limits)),
        "capability": capability(tall),
        "yield": yields(store),
        "spc": spc(tall, name),
    }
    json.dump(out, sys.stdout)


main()
