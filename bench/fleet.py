"""`make bench-fleet` (also run by `make bench`): one `serve` over a fleet of centers (SPEC 7).

1,000 centers of 2,000 rows each, every one its own spreadsheet on the Sheets stand-in (clones of
one settled sheet: the stand-in's copy-on-write fork), all in one config under one `serve`
process (bench/child.py `run_fleet`) at a 5-minute interval. Sweeps, on the worker's clock:

1. the first sweep of a fresh `serve` (every sheet read in full; the day's digests go out);
2. the sweep after it (every center wrote: read once more);
3. an idle sweep: nobody edited anything;
4. two sweeps with staff edits: `--edits-per-hour` per center, spread over the hour's 12 sweeps.

For each sweep: Sheets and Drive requests, CPU and wall time of the worker process, its memory.
The hour's request rate (Sheets per minute, Drive per minute) is then worked out from what each
kind of cycle was measured to cost; docs/operations.md section 8 turns it into service accounts
and Google Cloud projects. Results go to stdout and bench/FLEET.md.

    python -m bench.fleet                       # 1,000 x 2,000 rows (a few minutes on 2 cores)
    python -m bench.fleet --centers 20 --rows 200 --out /tmp/fleet.md   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from . import data
from .run import NOW, ROOT, TIMEZONE, Stage, machine, measure

SWEEPS_PER_HOUR = 12  # a 5-minute interval
SHEETS_PER_MINUTE_PER_ACCOUNT = 60  # Google: per user (a service account is one), read and write each
SHEETS_PER_MINUTE_PER_PROJECT = 300
DRIVE_PER_MINUTE_PER_PROJECT = 12_000  # Drive API default: queries per minute (per project and per user)


def fleet_config(folder: Path, stage: Stage, sheets: list[str]) -> Path:
    lines = [f'timezone = "{TIMEZONE}"', 'language = "zh-Hant"', "",
             "[schedule]", "interval_minutes = 5", "workers = 8", "google_requests_per_minute = 1000000", "",
             "[mail]", 'transport = "outbox"', 'outbox_dir = "outbox"', 'from = "frontdesk@example.com"', ""]
    for number, sheet in enumerate(sheets, start=1):
        lines += ["[[centers]]", f'name = "服務中心{number:04d}"', 'backend = "google"', f'spreadsheet = "{sheet}"',
                  f'credentials = "{stage.key_file}"', f'api_endpoint = "{stage.standin.base_url}"',
                  'supervisor = { name = "王敏", email = "supervisor@example.com" }',
                  'manager = { name = "李強", email = "manager@example.com" }', ""]
    path = folder / "fleet.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def settled_template(stage: Stage, folder: Path, rows: int) -> str:
    """One sheet as a running worker leaves it (ids, statuses, summary tabs, log), to clone."""
    sheet = data.generate(rows, NOW.date())
    template = stage.create(sheet.values, rows)
    (folder / "template").mkdir()
    config = fleet_config(folder / "template", stage, [template])
    measure({"who": "fleet", "config": str(config), "cycles": [NOW.isoformat()]})
    return template


def edit(stage: Stage, sheet: str, rng: random.Random) -> None:
    """A staff edit: a follow-up answer typed into one row's 回訪滿意度, or a new reception."""
    tab = data.VOCABULARY.main_tab_title
    if rng.random() < 0.5:
        stage.standin.append_rows(sheet, tab, [[{data.COLUMN["received_at"]: NOW.date().isoformat(),
                                                data.COLUMN["room"]: "1-2-0301", data.COLUMN["matter"]: "新來訪",
                                                data.COLUMN["owner_name"]: "趙先生"}.get(i) for i in range(len(data.KEYS))]])
    else:
        from openpyxl.utils import get_column_letter

        stage.standin.set_cell(sheet, tab, f"{get_column_letter(data.COLUMN['satisfaction'] + 1)}{rng.randrange(2, 400)}",
                               "滿意")


def run_fleet(centers: int, rows: int, edits_per_hour: float, latency: float, say=print) -> dict[str, Any]:
    rng = random.Random(20261130)
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as name:
        folder = Path(name)
        stage = Stage(folder, latency)
        try:
            started = time.perf_counter()
            template = settled_template(stage, folder, rows)
            sheets = [stage.clone(template) for _ in range(centers)]
            config = fleet_config(folder, stage, sheets)
            say(f"  {centers} 個服務中心 × {rows:,} 行已就緒（{time.perf_counter() - started:.0f} 秒）")
            names = ["首輪（serve 啟動）", "寫入後再讀", "空閒（無人編輯）", "有編輯 1", "有編輯 2"]
            per_sweep = centers * edits_per_hour / SWEEPS_PER_HOUR
            plan = [0, 0, 0, per_sweep, per_sweep]
            cycles = [(NOW + dt.timedelta(minutes=10 + 5 * i)).isoformat() for i in range(len(plan))]
            edits_done: list[int] = []

            def before_go():
                step = len(edits_done)
                count = int(plan[step]) + (1 if rng.random() < plan[step] - int(plan[step]) else 0)
                for sheet in rng.sample(sheets, min(count, len(sheets))):
                    edit(stage, sheet, rng)
                edits_done.append(count)
                stage.standin.reset_log()
                stage.standin.latency = latency

            sweeps = []

            def after(figures):
                stage.standin.latency = 0.0
                logged = [r for r in stage.standin.requests_of() if r.kind != "token"]
                figures.update(name=names[len(sweeps)], edits=edits_done[-1],
                               server_sheets=sum(1 for r in logged if not r.kind.startswith("drive.")),
                               server_drive=sum(1 for r in logged if r.kind.startswith("drive.")),
                               largest_request=max((r.bytes_in for r in logged), default=0))
                sweeps.append(figures)
                say(f"  {figures['name']:12} 編輯 {figures['edits']:4}  Sheets {figures['server_sheets']:5}  "
                    f"Drive {figures['server_drive']:5}  CPU {figures['cpu_s']:.1f} s  牆鐘 {figures['wall_s']:.1f} s  "
                    f"常駐 {figures['rss_mib']:.0f} MiB  失敗 {figures['failed']}")

            measure({"who": "fleet", "config": str(config), "cycles": cycles}, before_go=before_go, after=after,
                    timeout=3600)
        finally:
            stage.stop()
    return {"centers": centers, "rows": rows, "edits_per_hour": edits_per_hour, "latency": latency,
            "sweeps": sweeps, "seconds": time.perf_counter() - started}


def hourly(result: dict[str, Any]) -> dict[str, float]:
    """Requests per minute over a steady hour, from the measured costs of each kind of sweep."""
    sweeps = result["sweeps"]
    centers = result["centers"]
    idle, edited = sweeps[2], sweeps[3:]
    edits = sum(s["edits"] for s in edited)
    # Sheets requests an edit costs: its full cycle (read, place, write) and the read after the write.
    per_edit = sum(s["server_sheets"] for s in edited) / edits if edits else 0.0
    reread = sweeps[1]["server_sheets"] / centers  # a full read with nothing to write (serve)
    full_reads = centers * reread  # full_read_minutes = 60: once an hour each
    lease = centers * 2 * reread  # the lease's hourly refresh (a batchUpdate) and the read after it
    sheets_hour = idle["server_sheets"] * SWEEPS_PER_HOUR + result["edits_per_hour"] * centers * per_edit + full_reads + lease
    drive_hour = centers * SWEEPS_PER_HOUR
    return {"sheets_per_minute": sheets_hour / 60, "drive_per_minute": drive_hour / 60, "per_edit": per_edit,
            "idle_sheets_per_minute": (idle["server_sheets"] * SWEEPS_PER_HOUR + full_reads + lease) / 60}


def report(result: dict[str, Any], info: dict[str, str]) -> str:
    rate = hourly(result)
    lines = [
        "# 服務中心群組基準測試（`make bench-fleet`）",
        "",
        f"- 日期：{info['date']}；機器：{info['nproc']} 核 {info['cpu']}，Python {info['python']}",
        f"- {result['centers']:,} 個服務中心，每個一份 {result['rows']:,} 行的試算表（Sheets stand-in，每請求延遲 "
        f"{result['latency'] * 1000:.0f} ms），一個 `serve` 進程（workers = 8），間隔 5 分鐘；每個服務中心每小時 "
        f"{result['edits_per_hour']:g} 次前臺編輯",
        "- CPU、記憶體是 serve 進程的（stand-in 在另一個進程）；請求數是 stand-in 收到的",
        "",
        "| 一輪 | 編輯的中心 | Sheets 請求 | Drive 請求 | 最大請求 | CPU | 牆鐘 | 常駐記憶體 | 失敗 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in result["sweeps"]:
        lines.append(f"| {s['name']} | {s['edits']:,} | {s['server_sheets']:,} | {s['server_drive']:,} | "
                     f"{s['largest_request'] / 1e6:.2f} MB | {s['cpu_s']:.1f} s | {s['wall_s']:.1f} s | "
                     f"{s['rss_mib']:.0f} MiB | {s['failed']} |")
    idle = result["sweeps"][2]
    lines += [
        "",
        "## 一小時的請求率（按上表各類周期的實測成本推算）",
        "",
        f"- 每次編輯花 {rate['per_edit']:.1f} 個 Sheets 請求（完整讀取、定位、寫入，以及寫入後的再讀）",
        f"- 無人編輯的一輪：Sheets {idle['server_sheets']} 個、Drive {idle['server_drive']:,} 個、CPU {idle['cpu_s']:.1f} 秒",
        f"- 每小時另有每個中心 1 次 `full_read_minutes`（60）的完整讀取和約 1 次租約刷新（1 次寫入 + 其後 1 次再讀）",
        f"- **Sheets：每分鐘 {rate['sheets_per_minute']:.0f} 個**（無人編輯的一小時：{rate['idle_sheets_per_minute']:.0f} 個）；"
        f"**Drive：每分鐘 {rate['drive_per_minute']:.0f} 個**",
        f"- Google 的限制：Sheets 每個服務帳號每分鐘 {SHEETS_PER_MINUTE_PER_ACCOUNT} 個讀 + "
        f"{SHEETS_PER_MINUTE_PER_ACCOUNT} 個寫（本程式按合計 60 自律），每個專案每分鐘 {SHEETS_PER_MINUTE_PER_PROJECT} 個；"
        f"Drive 每分鐘 {DRIVE_PER_MINUTE_PER_PROJECT:,} 個。算術見 docs/operations.md 第 8 節",
        "",
        f"總用時 {result['seconds']:.0f} 秒。",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description="一個 serve 帶一群服務中心的成本")
    parser.add_argument("--centers", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--edits-per-hour", type=float, default=3.0, help="每個中心每小時的前臺編輯次數")
    parser.add_argument("--latency", type=float, default=0.0, help="stand-in 每請求延遲（秒），默認 0")
    parser.add_argument("--out", default=str(ROOT / "bench" / "FLEET.md"))
    parser.add_argument("--json", help="另把原始數據寫成 JSON")
    args = parser.parse_args(argv)
    result = run_fleet(args.centers, args.rows, args.edits_per_hour, args.latency)
    text = report(result, machine())
    Path(args.out).write_text(text, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
