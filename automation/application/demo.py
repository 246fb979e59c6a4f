"""`demo`: a working example around today — config, a workbook of realistic receptions, one cycle."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import shlex
import sys
from pathlib import Path

import openpyxl
from openpyxl.styles import Font

from . import commands
from ..adapters.workbook import atomic_save
from ..config import load_config
from ..vocabulary import Vocabulary

CONFIG = """\
# 示例設定（完整說明見 config.example.toml）
timezone = "Asia/Shanghai"
language = "zh-Hant"

[escalation]
supervisor_after_days = 2
manager_after_days = 7
day_basis = "calendar"

[escalation.categories."投訴"]
supervisor_after_days = 1
manager_after_days = 3

[review]
window_days = 30

[schedule]
interval_minutes = 5
# 示例在任何時刻運行都能看到每日隊列郵件；正式使用時默認為 "08:30"
daily_digest_at = "00:00"
weekly_review_day = "monday"
weekly_review_at = "09:00"

[mail]
transport = "outbox"
outbox_dir = "outbox"
from = "frontdesk@example.com"

[[centers]]
name = "錦繡花園服務中心"
backend = "local"
path = "data/錦繡花園.xlsx"
supervisor = { name = "王敏", email = "supervisor@example.com" }
manager = { name = "李強", email = "manager@example.com" }
"""

STAFF_HEADERS = ["接待日期", "接待渠道", "業主姓名", "聯系電話", "房號", "事由", "類別", "接待人", "責任部門",
                 "處理情況", "處理結果", "完成日期", "無法處理原因", "主管審核", "經理審核", "回訪滿意度"]

# (days ago, time, channel, name, phone, room, matter, category, by, department, handling, result,
#  days-ago completed, unresolvable reason, supervisor review, manager review, satisfaction)
SAMPLES = [
    (20, "09:15", "上門", "陳志明", "13812345678", "3-1-1201", "廚房水管漏水，樓下天花板滲水", "報修", "張麗", "工程部", "已派維修工更換三通", "已修復", 19, "", "已審核", "已閱", "滿意"),
    (19, "10:40", "致電", "林美華", "13987654321", "5-2-0802", "諮詢物業費繳費方式及發票開具", "諮詢", "張麗", "", "告知可線上繳費並開電子發票", "已解答", 19, "", "已審核", "已閱", "滿意"),
    (18, "14:05", "網上", "黃建國", "13611112222", "2-1-1503", "地下車庫B2照明損壞多處", "報修", "劉洋", "工程部", "更換燈管12支", "已修復", 14, "", "已審核", "已閱", "基本滿意"),
    (17, "16:30", "上門", "周曉燕", "15000001111", "7-1-0301", "樓上深夜噪音擾民，多次溝通無效", "投訴", "張麗", "秩序維護部", "上門勸導並書面提醒", "噪音減少", 20 - 4, "", "已審核", "已閱", "不滿意"),
    (16, "11:20", "致電", "吳國強", "13722223333", "1-3-2201", "電梯按鍵失靈", "報修", "劉洋", "工程部", "聯繫電梯維保單位", "", "", "", "已審核", "", ""),
    (15, "09:00", "上門", "鄭麗君", "18912340000", "6-2-1102", "申請裝修出入證", "其他", "張麗", "", "已辦理", "已發證", 15, "", "已審核", "已閱", ""),
    (14, "15:45", "網上", "孫偉", "13533334444", "4-1-0601", "建議小區增設電動車充電樁", "建議", "劉洋", "", "", "", "", "", "", "", ""),
    (13, "10:10", "致電", "趙小紅", "13344445555", "8-1-1801", "外牆瓷磚脫落，存在安全隱患", "報修", "張麗", "工程部", "已設警戒區，待吊籃施工", "", "", "需業委會表決動用維修基金，物業無權自行施工", "已審核", "", ""),
    (12, "13:30", "上門", "錢文傑", "13455556666", "2-2-0401", "鄰居長期佔用消防通道停車", "投訴", "劉洋", "秩序維護部", "已張貼告示", "", "", "", "已審核", "", ""),
    (11, "08:50", "致電", "馮淑芬", "13266667777", "9-1-0202", "垃圾房異味嚴重", "投訴", "張麗", "環境部", "增加清運及消殺頻次", "已改善", 9, "", "已審核", "", ""),
    (10, "17:20", "上門", "何家豪", "13177778888", "3-2-0903", "門禁卡失效需補辦", "其他", "劉洋", "", "已補辦新卡", "已完成", 10, "", "", "", "滿意"),
    (9, "09:35", "網上", "許麗萍", "13088889999", "5-1-1405", "陽台下水道堵塞", "報修", "張麗", "工程部", "疏通", "已疏通", 7, "", "", "", ""),
    (8, "19:05", "致電", "謝天明", "18611110000", "1-1-0101", "單元門口有人暈倒，需要急救", "緊急", "劉洋", "秩序維護部", "已撥打120，保安到場協助", "已送醫", 8, "", "已審核", "", ""),
    (7, "10:00", "上門", "羅佩珊", "18722221111", "6-1-2003", "物業費賬單金額有誤", "投訴", "張麗", "財務部", "核對中", "", "", "", "", "", ""),
    (6, "11:45", "致電", "梁志強", "18833332222", "4-2-1701", "熱水器安裝需開通燃氣", "報修", "劉洋", "工程部", "", "", "", "", "", "", ""),
    (5, "14:20", "網上", "宋雅琴", "13944443333", "7-2-0505", "小區兒童遊樂設施損壞", "報修", "張麗", "工程部", "", "", "", "", "", "", ""),
    (4, "16:10", "上門", "唐建華", "13655554444", "8-2-1302", "快遞櫃無法取件", "其他", "劉洋", "", "已聯繫快遞櫃客服遠程開箱", "已取件", 4, "", "", "", ""),
    (3, "09:25", "致電", "韓曉東", "15066665555", "2-1-0707", "保潔人員態度差", "投訴", "張麗", "環境部", "", "", "", "", "", "", ""),
    (3, "20:40", "致電", "馮志偉", "15177776666", "9-2-1603", "地下室配電房冒煙，疑似起火", "緊急", "劉洋", "工程部", "已啟動應急預案，通知消防", "", "", "", "", "", ""),
    (2, "10:30", "上門", "曹麗娟", "15288887777", "5-2-0303", "申請臨時停車位", "諮詢", "張麗", "", "", "", "", "", "", "", ""),
    (1, "15:00", "網上", "彭國華", "15399998888", "3-1-0506", "窗戶密封條老化漏風", "報修", "劉洋", "工程部", "", "", "", "", "", "", ""),
    (1, "16:55", "致電", "蔣美玲", "15400009999", "1-2-1208", "樓道感應燈不亮", "報修", "張麗", "", "", "", "", "", "", "", ""),
    (0, "08:40", "上門", "沈浩然", "15511110000", "6-2-0908", "希望增加夜間巡邏", "建議", "劉洋", "", "", "", "", "", "", "", ""),
    # A few rows as staff really type them: missing room, a date nobody can read, no contact,
    # a 完成日期 in the future, a 處理結果 without 完成日期, a formula-looking matter.
    (2, "11:00", "致電", "楊帆", "13800001234", "", "反映水壓低", "報修", "張麗", "工程部", "", "", "", "", "", "", ""),
    (None, "", "上門", "朱琳", "", "4-1-1001", "詢問停水通知", "諮詢", "劉洋", "", "", "", "", "", "", "", ""),
    (5, "09:00", "其他", "", "", "8-1-0402", "信箱損壞", "報修", "張麗", "工程部", "", "", "", "", "", "", ""),
    (6, "10:00", "致電", "秦海", "18699990000", "3-2-1101", "車位地鎖被撞壞", "報修", "劉洋", "工程部", "已更換地鎖", "已修復", -3, "", "", "", ""),
    (1, "13:00", "上門", "尤靜", "13912340000", "7-1-1502", "=HYPERLINK(\"http://example.com\",\"點我\") 業主留言", "其他", "張麗", "", "已轉告", "已處理", "", "", "", "", ""),
]


# Half a year of history before the recent rows, so the 季度復審 tab and mail have quarters to
# compare. Deterministic; every row closed except one left with the manager for weeks. Built so
# that the review finds something in whichever quarter it looks at: a room that keeps calling
# (2-1-1503), an 工程部 whose items often reach the supervisor, an item long with the manager.
_HISTORY_KINDS = [
    # (matter, category, channel, department, days to finish, satisfaction)
    ("地下車庫照明損壞", "報修", "網上", "工程部", 5, "基本滿意"),
    ("諮詢停車月卡辦理", "諮詢", "致電", "", 0, "滿意"),
    ("樓道雜物堆放", "投訴", "上門", "秩序維護部", 1, "滿意"),
    ("陽台下水道堵塞", "報修", "致電", "工程部", 1, "滿意"),
    ("建議增加綠化", "建議", "網上", "", 2, ""),
    ("電梯異響", "報修", "上門", "工程部", 4, "不滿意"),
    ("快遞代收", "其他", "致電", "", 0, "滿意"),
]
_REPEAT_CALLER = ("黃建國", "13611112222", "2-1-1503")  # every 5th row: 4 or 5 times a quarter;
# the others take turns, each at most twice a quarter
_HISTORY_PEOPLE = [("王家明", "13600001111", "4-2-0801"), ("李淑貞", "13700002222", "6-1-1202"),
                   ("陳美玲", "13800003333", "1-2-0303"), ("張志偉", "13900004444", "9-1-1001"),
                   ("劉慧敏", "13500005555", "3-2-0402"), ("楊光", "13300006666", "7-2-1604"),
                   ("許文彬", "13200007777", "5-1-0707"), ("郭小芳", "13100008888", "8-2-2101"),
                   ("鄧永康", "15800009999", "2-2-1305"), ("蕭雅文", "15900001212", "6-2-0506")]


def history_samples() -> list[tuple]:
    rows = []
    for number, days_ago in enumerate(range(200, 23, -4)):
        matter, category, channel, department, takes, satisfaction = _HISTORY_KINDS[number % len(_HISTORY_KINDS)]
        others = number - number // 5 - 1  # rows before this one not of the repeat caller
        name, phone, room = _REPEAT_CALLER if number % 5 == 0 else _HISTORY_PEOPLE[others % len(_HISTORY_PEOPLE)]
        reviewed = number % 6 != 5  # a few rows the supervisor and manager never signed
        rows.append((days_ago, f"{9 + number % 8:02d}:{number * 7 % 60:02d}", channel, name, phone, room, matter,
                     category, "張麗" if number % 2 else "劉洋", department, "已處理", "已完成", days_ago - takes, "",
                     "已審核" if reviewed else "", "已閱" if reviewed else "", satisfaction))
    rows.append((60, "10:20", "上門", "趙大勇", "13511223344", "5-1-0902", "屋頂防水層老化漏水，需整體翻修", "報修", "張麗",
                 "工程部", "已報維修基金申請", "", "", "", "已審核", "已閱", ""))
    return rows


SAMPLES = [*history_samples(), *SAMPLES]


def _received_cell(today: dt.date, days_ago, at: str, index: int):
    if days_ago is None:
        return "上週二下午"  # what staff sometimes type; the worker flags it
    day = today - dt.timedelta(days=days_ago)
    hour, minute = (int(x) for x in at.split(":"))
    moment = dt.datetime.combine(day, dt.time(hour, minute))
    # Mix the forms SPEC 2.1 accepts: real date cells and the common text forms.
    forms = [moment, moment, f"{day:%Y-%m-%d} {at}", f"{day:%Y/%m/%d}", f"{day.year}年{day.month}月{day.day}日", f"{day:%Y.%m.%d}"]
    return forms[index % len(forms)]


def write_sample_workbook(path: Path, today: dt.date) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = Vocabulary("zh-Hant").main_tab_title
    bold = Font(bold=True)
    for column, header in enumerate(STAFF_HEADERS, start=1):
        sheet.cell(row=1, column=column, value=header).font = bold
    for index, sample in enumerate(SAMPLES):
        (days_ago, at, channel, name, phone, room, matter, category, by, department, handling, result,
         done_ago, reason, supervisor_review, manager_review, satisfaction) = sample
        done = today - dt.timedelta(days=done_ago) if done_ago != "" else None
        row = [_received_cell(today, days_ago, at, index), channel, name, phone, room, matter, category, by,
               department, handling, result, done, reason, supervisor_review, manager_review, satisfaction]
        for column, value in enumerate(row, start=1):
            if value in ("", None):
                continue
            cell = sheet.cell(row=index + 2, column=column)
            cell.value = value
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # staff typed text; it stays text
            if isinstance(value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(value, dt.date):
                cell.number_format = "yyyy-mm-dd"
    for letter, width in zip("ABCDEFGHIJKLMNOP", (18, 8, 10, 14, 10, 34, 6, 8, 12, 24, 10, 12, 30, 8, 8, 10)):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(book, path)


def run_demo(folder: Path, now: dt.datetime | None = None, out=sys.stdout) -> int:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.toml"
    kept = config_path.exists() and config_path.read_text(encoding="utf-8") != CONFIG
    if not kept:
        config_path.write_text(CONFIG, encoding="utf-8")
    config = load_config(config_path)
    now = now or dt.datetime.now(config.timezone)
    today = now.astimezone(config.timezone).date()
    workbook = config.centers[0].path
    write_sample_workbook(workbook, today)
    before = set(Path(config.mail.outbox_dir).glob("*.eml")) if config.mail.transport == "outbox" else set()
    print(f"示例目錄：{folder.resolve()}", file=out)
    if kept:
        print(f"設定檔 {config_path} 已存在且改動過：保留原樣，未覆蓋（要重新生成，先刪除它）", file=out)
    else:
        print(f"已生成設定檔 {config_path}", file=out)
    print(f"已生成示例工作簿 {workbook}（{len(SAMPLES)} 條接待記錄，近三週的日常記錄和之前半年的歷史）", file=out)
    code = commands.init_all(config, out=out)
    code = max(code, commands.run_once(config, now, dry_run=False, out=out))
    prefix = command_prefix()
    print("", file=out)
    print("請查看：", file=out)
    print(f"  工作簿 {workbook}：主分頁已填上 記錄編號 / 當前負責人 / 狀態 / 處理時限 / 系統提示，", file=out)
    print("    另有 主管隊列、經理隊列、待審核、待回訪、週報、季度復審、運行日誌 分頁", file=out)
    if config.mail.transport == "outbox":
        print(f"  這次運行的郵件（.eml，可用郵件軟件打開）：{config.mail.outbox_dir}", file=out)
        for line in outbox_listing(config.mail.outbox_dir, exclude=before):
            print(f"    {line}", file=out)
    config_arg = shlex.quote(str(config_path.resolve()))
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    print(f"  再次運行：{prefix} run --config {config_arg}", file=out)
    print(f"  試看明天早上會發甚麼（試運行：不寫入、不發送、不記錄）：{prefix} run --config {config_arg} "
          f"--dry-run --now {tomorrow}T08:30 --preview {shlex.quote(str((folder / 'preview').resolve()))}", file=out)
    return code


def command_prefix() -> str:
    """How to call the worker from any folder: the installed `reception-worker` beside this
    Python, or this Python with `-m automation`."""
    script = Path(sys.executable).with_name("reception-worker")
    if script.exists():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m automation"


def outbox_listing(folder: Path, exclude: set[Path] = frozenset()) -> list[str]:
    """`file name  subject` for each message in the outbox but not in `exclude` (there before
    this run), oldest first."""
    lines = []
    for path in sorted(set(Path(folder).glob("*.eml")) - set(exclude)) if Path(folder).is_dir() else []:
        with open(path, "rb") as handle:
            headers = email.message_from_binary_file(handle, policy=email.policy.default)
        lines.append(f"{path.name}  {headers['Subject']}")
    return lines
