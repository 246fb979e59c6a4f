"""SPEC 7: a full cycle reads the main tab and the event log, not the generated tabs. The sheet
keeps a digest of what the worker last wrote in each generated tab (Google: developer metadata
written in the same batchUpdate as the tabs; a workbook: custom document properties written in
the same save); a tab is rewritten when its digest changes. The day's first full cycle (and one
that finds no digest, or no state: lost, or a standby taking over) reads the tabs and compares,
so a hand edit of a generated tab is put right by the next day's first cycle at the latest.
"""

from __future__ import annotations

import json
import shutil

import openpyxl
import pytest

from automation.adapters import workbook_digests
from automation.adapters.google.layout import DIGESTS_KEY
from automation.application.all_centers import state_dir_of
from automation.config import load_config
from tests.google_support import count_requests, google_config, make_sheet, tab_rows
from tests.google_support import retry_clock  # noqa: F401  (autouse: retries on a fake clock)
from tests.test_standin import session_for
from tests.test_workbook_e2e import mixed_rows
from tests.workbooks import MAIN_HANT, SHUFFLED_HANT, build_workbook, run_at, write_config

QUEUE = "主管隊列"
LOG = "運行日誌"
GENERATED = ("主管隊列", "經理隊列", "待審核", "待回訪", "週報", "季度復審")
HAND_EDIT = "（手改）"
NEW_ROW = {"房號": "2-202", "事由": "新來訪", "接待日期": "2026-03-10", "業主姓名": "趙"}


def ok(capsys, config, now: str) -> str:
    code, out, err = run_at(capsys, config, now)
    assert code == 0, err
    return out


# --- Google Sheets ----------------------------------------------------------------------------

@pytest.fixture
def google_center(sheets_standin, service_account, tmp_path):
    sid = make_sheet(sheets_standin, service_account.email, SHUFFLED_HANT, mixed_rows())
    return sid, google_config(tmp_path, sheets_standin.base_url, service_account.path, sid)


def read_ranges(standin, since: int) -> list[list[str]]:
    """The ranges of each cycle read (the first values:batchGet of each run) since request `since`."""
    return [r.query.get("ranges") for r in standin.requests[since:] if r.kind == "values.batchGet"]


def quoted(title: str) -> str:
    return f"'{title}'"


def cycle_read(standin, capsys, config, now: str) -> list[str]:
    """Run a cycle; the ranges of its read (the first values:batchGet)."""
    since = len(standin.requests)
    ok(capsys, config, now)
    reads = read_ranges(standin, since)
    return reads[0] if reads else []


def kept_digests(standin, sid) -> dict[str, str]:
    found = [m for m in standin.developer_metadata(sid) if m["metadataKey"] == DIGESTS_KEY]
    assert len(found) == 1
    return json.loads(found[0]["metadataValue"])["tabs"]


def google_queue_cell(standin, sid) -> str:
    return tab_rows(standin, sid, QUEUE)[1][0]


def test_google_full_cycle_reads_no_generated_tab_except_on_the_days_first(sheets_standin, google_center, capsys):
    sid, config = google_center
    every_tab = [quoted(MAIN_HANT), *map(quoted, GENERATED), quoted(LOG) + "!A2:D"]
    main_and_log = [quoted(MAIN_HANT), quoted(LOG) + "!A2:D"]
    # First cycle: no state, the day's first: it reads all there is (no generated tab yet).
    assert cycle_read(sheets_standin, capsys, config, "2026-03-10T09:00") == [quoted(MAIN_HANT)]
    assert set(kept_digests(sheets_standin, sid)) == set(GENERATED)
    # The digests ride in the batchUpdate that writes the tabs.
    write = sheets_standin.requests_of("spreadsheets.batchUpdate")[0].body["requests"]
    assert any(DIGESTS_KEY in json.dumps(r, ensure_ascii=False) for r in write)
    # Same day: the cycle after the write, and one after a staff edit, read main tab and log only.
    assert cycle_read(sheets_standin, capsys, config, "2026-03-10T09:05") == main_and_log
    sheets_standin.append_rows(sid, MAIN_HANT, [[NEW_ROW.get(h) for h in SHUFFLED_HANT]])
    with count_requests(sheets_standin, "an edit, the same day") as edited:
        assert cycle_read(sheets_standin, capsys, config, "2026-03-10T09:10") == main_and_log
    # SPEC 7 (issue 13): still one read; the write adds the fresh read of the id column.
    assert edited.by_kind == {"drive.files.get": 1, "spreadsheets.get": 1, "values.batchGet": 2,
                              "spreadsheets.batchUpdate": 1}
    # The next day's first full cycle reads every generated tab and compares; the next does not.
    assert cycle_read(sheets_standin, capsys, config, "2026-03-11T00:05") == every_tab
    assert cycle_read(sheets_standin, capsys, config, "2026-03-11T00:10") == main_and_log


def test_google_a_changed_digest_rewrites_the_tab_unread(sheets_standin, google_center, capsys):
    """A row newly at the supervisor changes 主管隊列's digest: written without being read."""
    sid, config = google_center
    ok(capsys, config, "2026-03-10T09:00")
    ok(capsys, config, "2026-03-10T09:05")
    before = kept_digests(sheets_standin, sid)
    sheets_standin.append_rows(sid, MAIN_HANT, [[{**NEW_ROW, "事由": "", "房號": ""}.get(h) for h in SHUFFLED_HANT]])
    assert QUEUE not in " ".join(cycle_read(sheets_standin, capsys, config, "2026-03-10T09:10"))
    after = kept_digests(sheets_standin, sid)
    assert after[QUEUE] != before[QUEUE]
    assert any(row[0] == "R20260310-002" for row in tab_rows(sheets_standin, sid, QUEUE)[1:])


def test_google_hand_edit_of_a_queue_stays_the_day_and_is_put_right_next_day(sheets_standin, google_center, capsys):
    sid, config = google_center
    ok(capsys, config, "2026-03-10T09:00")
    ok(capsys, config, "2026-03-10T09:05")
    written = tab_rows(sheets_standin, sid, QUEUE)
    sheets_standin.set_cell(sid, QUEUE, "A2", HAND_EDIT)  # moves modifiedTime: the next cycle is full
    ok(capsys, config, "2026-03-10T09:10")
    ok(capsys, config, "2026-03-10T10:30")  # full_read_minutes
    assert google_queue_cell(sheets_standin, sid) == HAND_EDIT
    # The next day's first cycle reads the tab (its content moved with the day too: the
    # same-day putting right is tested without state below).
    assert quoted(QUEUE) in cycle_read(sheets_standin, capsys, config, "2026-03-11T00:05")
    assert google_queue_cell(sheets_standin, sid) != HAND_EDIT
    assert HAND_EDIT not in str(written)


@pytest.mark.parametrize("how", ["state lost", "standby"])
def test_google_without_state_the_tabs_are_compared_and_put_right(sheets_standin, google_center, tmp_path,
                                                                   capsys, how):
    """A deleted state_dir, or another machine taking over with a state_dir of its own, reads
    the tabs and compares: a hand edit is put right at once, and tabs that are right are not
    written again (their digests, kept in the sheet, still match)."""
    sid, config = google_center
    ok(capsys, config, "2026-03-10T09:00")
    ok(capsys, config, "2026-03-10T09:05")
    written = tab_rows(sheets_standin, sid, QUEUE)
    if how == "state lost":
        shutil.rmtree(state_dir_of(load_config(config)))
    else:  # the same config on another machine: a state_dir of its own, empty
        (tmp_path / "standby").mkdir()
        config = shutil.copy(config, tmp_path / "standby" / "config.toml")
    # Nothing changed: read in full (no state), every tab compared, nothing written.
    with count_requests(sheets_standin, "no state, nothing changed") as untouched:
        assert cycle_read(sheets_standin, capsys, config, "2026-03-10T09:10")[1:-1] == list(map(quoted, GENERATED))
    assert "spreadsheets.batchUpdate" not in untouched.by_kind
    # A hand edit, then the state lost again: put right by that cycle.
    sheets_standin.set_cell(sid, QUEUE, "A2", HAND_EDIT)
    shutil.rmtree(state_dir_of(load_config(config)))
    ok(capsys, config, "2026-03-10T09:15")
    assert tab_rows(sheets_standin, sid, QUEUE) == written


def test_google_a_missing_digest_is_read_and_compared(sheets_standin, google_center, service_account, capsys):
    """A sheet written by a version that kept no digests (or whose record was deleted): the
    tabs are read; the first write records the digests."""
    sid, config = google_center
    ok(capsys, config, "2026-03-10T09:00")
    ok(capsys, config, "2026-03-10T09:05")
    session = session_for(service_account.path)
    deleted = session.post(f"{sheets_standin.base_url}/v4/spreadsheets/{sid}:batchUpdate", json={"requests": [
        {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataKey": DIGESTS_KEY}}}}]})
    assert deleted.status_code == 200, deleted.text
    sheets_standin.append_rows(sid, MAIN_HANT, [[NEW_ROW.get(h) for h in SHUFFLED_HANT]])
    assert cycle_read(sheets_standin, capsys, config, "2026-03-10T09:10")[1:-1] == list(map(quoted, GENERATED))
    assert set(kept_digests(sheets_standin, sid)) == set(GENERATED)


# --- local workbook ---------------------------------------------------------------------------

@pytest.fixture
def local_center(tmp_path):
    build_workbook(tmp_path / "錦繡花園.xlsx", SHUFFLED_HANT, mixed_rows())
    return tmp_path / "錦繡花園.xlsx", write_config(tmp_path)


def local_queue_cell(workbook) -> str:
    return openpyxl.load_workbook(workbook)[QUEUE]["A2"].value


def hand_edit(workbook) -> None:
    book = openpyxl.load_workbook(workbook)
    book[QUEUE]["A2"] = HAND_EDIT
    book.save(workbook)


def test_local_digests_are_kept_in_the_workbook(local_center, capsys):
    workbook, config = local_center
    ok(capsys, config, "2026-03-10T09:00")
    digests = workbook_digests.digests_in_file(workbook)
    assert set(digests) == set(GENERATED) and all(len(d) == 24 for d in digests.values())
    names = [p.name for p in openpyxl.load_workbook(workbook).custom_doc_props.props]
    assert names == sorted(workbook_digests.PREFIX + title for title in GENERATED)


def test_local_hand_edit_of_a_queue_stays_the_day_and_is_put_right_next_day(local_center, capsys):
    workbook, config = local_center
    ok(capsys, config, "2026-03-10T09:00")
    ok(capsys, config, "2026-03-10T09:05")
    written = local_queue_cell(workbook)
    hand_edit(workbook)  # a save: the next cycle is full, and keeps the digests (custom properties)
    assert set(workbook_digests.digests_in_file(workbook)) == set(GENERATED)
    ok(capsys, config, "2026-03-10T09:10")
    ok(capsys, config, "2026-03-10T10:30")
    assert local_queue_cell(workbook) == HAND_EDIT
    ok(capsys, config, "2026-03-11T00:05")
    assert local_queue_cell(workbook) not in (HAND_EDIT, None) and written != HAND_EDIT


def test_local_state_lost_compares_and_puts_right(local_center, capsys):
    workbook, config = local_center
    ok(capsys, config, "2026-03-10T09:00")
    ok(capsys, config, "2026-03-10T09:05")
    written = local_queue_cell(workbook)
    stamp = workbook.stat().st_mtime_ns
    shutil.rmtree(state_dir_of(load_config(config)))
    ok(capsys, config, "2026-03-10T09:10")
    assert workbook.stat().st_mtime_ns == stamp  # compared, all right: not written
    hand_edit(workbook)
    shutil.rmtree(state_dir_of(load_config(config)))
    ok(capsys, config, "2026-03-10T09:15")
    assert local_queue_cell(workbook) == written


# --- the main tab read column by column (Google) ----------------------------------------------

def test_main_tab_read_column_by_column_is_the_rows_it_was():
    """Google leaves out trailing empty cells of each column, and gives an empty column (no
    header, nothing typed) as []: the header is as wide as the columns read, every column as
    long as the last row holding a value."""
    from automation.adapters.google.backend import main_tab_columns, rows_of

    columns = [["房號", "1-101", None, "1-103"], [], ["事由", "a"], [None, None, None, None, None], ["備註", None, "x"]]
    header, data = main_tab_columns(columns)
    assert header == ["房號", None, "事由", None, "備註"]
    assert data == [["1-101", None, "1-103"], [None] * 3, ["a", None, None], [None] * 3, [None, "x", None]]
    assert rows_of([["時間", "t1"], ["事件"]]) == [["時間", "事件"], ["t1", None]]
    assert main_tab_columns([]) == ([], [])
