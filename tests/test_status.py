"""`status --config FILE` (issue 5): what each center is doing, and an exit code for health checks.

Runs go through the real CLI with `--now`; status reads the sheet read-only and the monitoring
cache run/serve keep in the state folder. Its clock is `--now` as well."""

from __future__ import annotations

import shutil

from automation import cli
from automation.monitor_state import StateStore
from tests.ops_support import make_workbook, write_config
from tests.workbooks import row

GOOD, OTHER = "錦繡花園服務中心", "翠湖服務中心"


def status(capsys, config, now, *more) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["status", "--config", str(config), "--now", now, *more])
    return code, capsys.readouterr().out


def run(config, now, *more) -> int:
    return cli.main(["run", "--config", str(config), "--now", now, *more])


def rows():
    return [
        row("2026-03-01 09:00", 事由="外牆瓷磚脫落", 房號="8-1801", 類別="報修"),  # manager level by 03-10
        row("2026-03-06 09:00", 事由="垃圾房異味", 房號="9-0202", 類別="其他"),  # supervisor level
        row("2026-03-09 09:00", 事由="門禁卡失效", 房號="3-0903", 責任部門="工程部"),  # transferred
        row("2026-03-09 10:00", 事由="申請臨時停車位", 房號="5-0303", 完成日期="2026-03-09"),  # finished
        row("2026-03-10 08:00", 事由="", 房號="6-0908"),  # 資料不全
    ]


def test_healthy_after_a_run_with_open_items_oldest_item_and_next_digest(tmp_path, capsys):
    make_workbook(tmp_path / "good.xlsx", rows())
    config = write_config(tmp_path, [(GOOD, "good.xlsx")], interval=5)
    assert run(config, "2026-03-10T08:00") == 0
    code, out = status(capsys, config, "2026-03-10T08:14")
    assert code == 0
    assert out.splitlines()[0] == f"{GOOD}：正常"
    assert "上次成功運行：2026-03-10 08:00:00（14 分鐘前，run" in out
    assert "未完成事項：4 項（已轉部門 1、已升級主管 1、已升級經理 1、資料不全 1）" in out
    assert "最早的未完成事項：R20260301-001（接待 2026-03-01，已 9 天，已升級經理）" in out
    assert "下一次客服主管每日隊列：2026-03-10 08:30" in out
    assert "最近錯誤：無" in out and out.rstrip().endswith("全部 1 個服務中心正常")
    # After the 08:30 run sent it, the next one is tomorrow's.
    assert run(config, "2026-03-10T08:30") == 0
    code, out = status(capsys, config, "2026-03-10T08:31")
    assert code == 0 and "下一次客服主管每日隊列：2026-03-11 08:30（今天的已發送）" in out


def test_unhealthy_when_no_successful_cycle_within_three_intervals(tmp_path, capsys):
    make_workbook(tmp_path / "good.xlsx", rows())
    config = write_config(tmp_path, [(GOOD, "good.xlsx")], interval=5)
    assert run(config, "2026-03-10T08:00") == 0
    assert status(capsys, config, "2026-03-10T08:15")[0] == 0  # exactly three intervals: still fine
    code, out = status(capsys, config, "2026-03-10T08:16")
    assert code == 1
    assert f"{GOOD}：異常：3 個間隔（15 分鐘）內沒有成功運行" in out and "1 / 1 個服務中心異常" in out


def test_a_failing_center_shows_its_last_error_and_fails_the_check(tmp_path, capsys):
    make_workbook(tmp_path / "good.xlsx", rows())
    make_workbook(tmp_path / "other.xlsx")
    config = write_config(tmp_path, [(GOOD, "good.xlsx"), (OTHER, "other.xlsx")], interval=5)
    assert run(config, "2026-03-10T08:00") == 0
    (tmp_path / "other.xlsx").unlink()  # someone moved the workbook away
    assert run(config, "2026-03-10T08:05") == 3
    code, out = status(capsys, config, "2026-03-10T08:12")
    # The last success (08:00) is within three intervals, but the sheet cannot be read now.
    assert code == 3
    other = out[out.index(f"{OTHER}："):]
    assert "無法讀取試算表" in other and "最近錯誤：2026-03-10 08:05:00" in other and "other.xlsx" in other
    code, out = status(capsys, config, "2026-03-10T08:30")
    assert code == 3 and f"{OTHER}：異常：3 個間隔" in out
    # The quick probe reads no sheet (no API quota): only the cycles' record decides.
    code, out = status(capsys, config, "2026-03-10T08:12", "--no-sheets")
    assert code == 0 and "無法讀取" not in out and "未完成事項" not in out
    assert "最近錯誤：2026-03-10 08:05:00" in out


def test_no_record_is_unhealthy_and_losing_the_state_folder_loses_nothing_else(tmp_path, capsys):
    make_workbook(tmp_path / "good.xlsx", rows())
    config = write_config(tmp_path, [(GOOD, "good.xlsx")], interval=5)
    code, out = status(capsys, config, "2026-03-10T08:00")
    assert code == 1 and "上次成功運行：無記錄" in out
    assert run(config, "2026-03-10T08:00") == 0
    shutil.rmtree(tmp_path / "state")
    assert status(capsys, config, "2026-03-10T08:01")[0] == 1
    assert run(config, "2026-03-10T08:05") == 0  # an idle cycle: nothing to redo, state written again
    assert status(capsys, config, "2026-03-10T08:06")[0] == 0


def test_state_dir_is_configurable_and_status_follows_the_shard(tmp_path, capsys):
    make_workbook(tmp_path / "good.xlsx", rows())
    make_workbook(tmp_path / "other.xlsx")
    config = write_config(tmp_path, [(GOOD, "good.xlsx"), (OTHER, "other.xlsx")], interval=5,
                          top=f'state_dir = "{tmp_path / "var" / "state"}"')
    assert run(config, "2026-03-10T08:00", "--shard", "1/2") == 0
    assert run(config, "2026-03-10T08:00", "--shard", "2/2") == 0
    assert StateStore(tmp_path / "var" / "state").load(GOOD).last_success.startswith("2026-03-10T08:00")
    assert not (tmp_path / "state").exists()
    listed = []
    for shard in ("1/2", "2/2"):
        code, out = status(capsys, config, "2026-03-10T08:01", "--shard", shard)
        assert code == 0
        listed += [line.split("：")[0] for line in out.splitlines() if not line.startswith(" ") and "服務中心：" in line]
    assert sorted(listed) == sorted([GOOD, OTHER])
