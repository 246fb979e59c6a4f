"""The init planner (domain/init_plan.py): what `init` changes on any backend, from facts alone."""

from __future__ import annotations

from automation.config import load_config
from automation.application.one_center import layout_for
from automation.domain.init_plan import DATE_RULE, SheetFacts, other_spelling, plan_init
from automation.vocabulary import Vocabulary

HANT = Vocabulary("zh-Hant")
HANS = Vocabulary("zh-Hans")


def layout(tmp_path, language="zh-Hant"):
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'language = "{language}"\n[mail]\ntransport = "outbox"\noutbox_dir = "outbox"\n'
                           'from = "a@example.com"\n[[centers]]\nname = "中心"\nbackend = "local"\npath = "x.xlsx"\n'
                           'supervisor = { name = "王", email = "s@example.com" }\n'
                           'manager = { name = "李", email = "m@example.com" }\n', encoding="utf-8")
    config = load_config(config_file)
    return layout_for(config, config.centers[0])


def staff_headers():
    return tuple(column.headers["zh-Hant"] for column in HANT.staff_columns)


def test_an_empty_workbook_gets_every_header_a_frozen_row_drop_downs_and_the_tabs(tmp_path):
    wanted = layout(tmp_path)
    plan = plan_init(wanted, SheetFacts((wanted.main_title,)), date_rules=False)
    assert not plan.create_main and [text for _, text in plan.new_headers] == wanted.headers
    assert plan.freeze_header and "凍結表頭行" in plan.changes
    assert {rule.key for rule in plan.rules} == set(wanted.choices) and all(rule.options for rule in plan.rules)
    assert [title for title, _ in plan.new_tabs] == list(wanted.tabs)
    assert plan.changes[-1] == f"新增分頁「{list(wanted.tabs)[-1]}」"


def test_worker_headers_go_right_of_every_column_holding_a_value(tmp_path):
    wanted = layout(tmp_path)
    facts = SheetFacts((wanted.main_title, *wanted.tabs), staff_headers() + ("",), last_used_column=len(staff_headers()) + 1,
                       frozen_rows=1)
    plan = plan_init(wanted, facts, date_rules=False)
    first_worker = len(staff_headers()) + 1  # the staff's headerless column stays theirs
    assert [position for position, _ in plan.new_headers] == list(range(first_worker, first_worker + 5))
    assert plan.positions["record_id"] == first_worker and plan.width == first_worker + 5
    assert not plan.freeze_header and not plan.new_tabs
    assert plan.changes[0] == f"分頁「{wanted.main_title}」新增表頭「記錄編號」"


def test_a_settled_sheet_needs_nothing(tmp_path):
    wanted = layout(tmp_path)
    header = tuple(wanted.headers)
    positions = {key: position for position, key in enumerate(wanted.header_keys)}
    rules = {positions[key]: ("choice", *options) for key, options in wanted.choices.items()}
    rules.update({positions[key]: DATE_RULE for key in wanted.date_keys})
    facts = SheetFacts((wanted.main_title, *wanted.tabs), header, len(header), 1, rules)
    assert plan_init(wanted, facts, date_rules=True).changes == []
    without_dates = SheetFacts((wanted.main_title, *wanted.tabs), header, len(header), 1,
                               {p: r for p, r in rules.items() if r != DATE_RULE})
    assert plan_init(wanted, without_dates, date_rules=False).changes == []
    assert [rule.key for rule in plan_init(wanted, without_dates, date_rules=True).rules] == list(wanted.date_keys)


def test_a_missing_main_tab_is_created_with_its_headers_in_one_change(tmp_path):
    wanted = layout(tmp_path)
    plan = plan_init(wanted, SheetFacts(("Sheet1",)), date_rules=True)
    assert plan.create_main and plan.freeze_header
    assert plan.main_changes[0] == f"新增分頁「{wanted.main_title}」"
    assert not any("新增表頭" in change or change == "凍結表頭行" for change in plan.changes)


def test_a_language_switch_renames_the_generated_tabs_instead_of_adding_them(tmp_path):
    hant, hans = layout(tmp_path), layout(tmp_path, "zh-Hans")
    facts = SheetFacts((hant.main_title, *hant.tabs), tuple(hant.headers), len(hant.headers), 1)
    plan = plan_init(hans, facts, date_rules=False)
    assert not plan.new_tabs and ("運行日誌", "运行日志") in plan.renames
    assert "分页「運行日誌」改名为「运行日志」" in plan.changes  # said in the configured language (SPEC 5.1)
    # A drop-down is named as the sheet spells its column.
    assert any(change.startswith("「類別」") for change in plan.changes)


def test_other_spelling_finds_a_generated_tab_under_the_other_language():
    assert other_spelling("运行日志", ["運行日誌"]) == "運行日誌"
    assert other_spelling("運行日誌", ["運行日誌"]) is None
    assert other_spelling("值班表", ["值班表"]) is None
