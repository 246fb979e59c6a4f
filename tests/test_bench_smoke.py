"""The benchmark harness (`make bench`, bench/) still runs: its quick path at 1,000 rows.

Not a measurement (no figure is asserted against time): it runs bench.run for one small size,
without latency, and checks that every cycle it measured ran — ours on both backends and the
peers — that the request counts the backend promises are what the harness saw, and that the
results table was written. gspread-dataframe is a bench-only requirement
(bench/requirements.txt); when it is not installed that peer is left out.
"""

from __future__ import annotations

import importlib.util
import json

from bench import run as bench_run


def test_quick_bench_runs_every_cycle_and_writes_the_table(tmp_path):
    peers = ["gspread_script"]
    if importlib.util.find_spec("gspread_dataframe") is not None:
        peers.append("gspread_dataframe")
    out, raw = tmp_path / "RESULTS.md", tmp_path / "results.json"

    # The gspread script's first cycle (an update_cell request per cell: thousands) is computed
    # from its request count rather than run, as the full benchmark does above a minute.
    code = bench_run.main(["--sizes", "1000", "--latency", "0", "--peer-request-limit", "500",
                           "--peers", ",".join(peers), "--out", str(out), "--json", str(raw)])

    assert code == 0
    results = json.loads(raw.read_text(encoding="utf-8"))["results"]
    by_key = {(r["who"], r["backend"], r["case"]): r for r in results}
    for backend, cases in (("local", ("first", "reread", "idle", "changed")),
                           ("google", ("first", "reread", "idle", "idle_serve", "changed"))):
        for case in cases:
            figures = by_key[("ours", backend, case)]["figures"]
            assert figures["exit_code"] == 0, (backend, case, figures.get("error"))
            assert figures["rows"] == 1000
    google = {case: by_key[("ours", "google", case)]["figures"]
              for case in ("first", "reread", "idle", "idle_serve", "changed")}
    # SPEC 7: after a write the next cycle reads (Drive + layout + values); then only Drive.
    assert (google["reread"]["sheets_requests"], google["reread"]["drive_requests"]) == (2, 1)
    for case in ("idle", "idle_serve"):
        assert (google[case]["sheets_requests"], google[case]["drive_requests"]) == (0, 1), case
    assert google["idle"]["server_cells"] == 0 and google["first"]["server_cells"] >= 3000
    local_idle = by_key[("ours", "local", "idle")]["figures"]
    assert local_idle["cells"] == 0 and local_idle["workbook_parses"] == 0 and local_idle["idle"]
    assert local_idle["process_cpu_s"] > 0
    for peer in peers:
        measured = [r for r in results if r["who"] == peer and not r["estimated"]]
        assert measured and all(r["figures"]["exit_code"] == 0 for r in measured), peer
    assert by_key[("gspread_script", "google", "first")]["estimated"]

    table = out.read_text(encoding="utf-8")
    assert "| 本工具 | Google（stand-in） | 1,000 | 空閒（serve） | 0 + 1 Drive |" in table
    assert "## 比值" in table and "gspread 腳本" in table
    assert "| Google 空閒周期：0 個 Sheets 請求 + 1 個 Drive 請求（每種大小，run 與 serve） | ✅" in table


def test_fleet_bench_runs_its_sweeps_and_writes_the_table(tmp_path):
    """bench.fleet at a toy size: every sweep ran without a failed center, the idle sweep asked
    Drive once per center and Sheets not at all, and the report was written."""
    from bench import fleet

    out = tmp_path / "FLEET.md"
    assert fleet.main(["--centers", "3", "--rows", "60", "--out", str(out), "--json", str(tmp_path / "fleet.json")]) == 0
    sweeps = json.loads((tmp_path / "fleet.json").read_text(encoding="utf-8"))["sweeps"]
    assert [s["failed"] for s in sweeps] == [0] * 5
    idle = sweeps[2]
    assert (idle["server_sheets"], idle["server_drive"], idle["idle"]) == (0, 3, 3)
    assert sweeps[0]["server_sheets"] > 0 and sweeps[1]["server_sheets"] == 3  # after its write, one read each
    assert "## 一小時的請求率" in out.read_text(encoding="utf-8")
