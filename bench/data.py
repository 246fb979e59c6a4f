"""Realistic reception logs of any size, the same for every backend and peer in a run.

A sheet of N receptions spread over the two years before `today`, sorted by reception date as a
front desk appends them: channels, categories, departments, owners' names and phones, about 10%
still open (most of the recent ones, a few old ones nobody closed), reviews and follow-up answers
filled the way a real office leaves them, and a sprinkling of the mistakes staff make (a room left
blank, a date typed as words, a category spelt their own way). Deterministic for a given seed.

Rows are lists in `HEADERS` order: the 16 staff columns then the 5 worker columns, which start
blank ("a sheet without ids", as `init` leaves it). Dates are real date cells (datetime / date),
except a share typed as text, as staff do.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from automation.vocabulary import Vocabulary

VOCABULARY = Vocabulary("zh-Hant")
STAFF_KEYS = tuple(c.key for c in VOCABULARY.staff_columns)
WORKER_KEYS = tuple(c.key for c in VOCABULARY.worker_columns)
KEYS = STAFF_KEYS + WORKER_KEYS
HEADERS = [VOCABULARY.header(key) for key in KEYS]
COLUMN = {key: position for position, key in enumerate(KEYS)}
HISTORY_DAYS = 730

_SURNAMES = "陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴徐周葉蘇莊呂江何蕭羅高潘簡朱鍾彭游詹胡施沈余趙盧梁顏柯孫魏翁戴范宋方"
_GIVEN = "志明美華建國曉燕國強麗君偉小紅文傑淑芬家豪麗萍天明佩珊俊宏雅婷冠宇怡君承翰詩涵宗翰欣怡家瑋"
_CHANNELS = ("上門", "致電", "網上", "其他")
_CHANNEL_WEIGHTS = (45, 35, 18, 2)
_STAFF = ("張麗", "劉洋", "陳靜", "王芳", "李娜")
_REVIEWERS = ("已審核", "王敏")
# category → (weight, matters, departments ("" = handled at the desk))
_CATEGORIES = {
    "報修": (40, ("廚房水管漏水，樓下天花板滲水", "電梯按鍵失靈", "陽台下水道堵塞", "地下車庫照明損壞",
                 "外牆瓷磚脫落", "門禁對講機無聲", "消防栓箱門損壞", "單元門閉門器漏油"),
           ("工程部", "工程部", "工程部", "")),
    "諮詢": (25, ("諮詢物業費繳費方式", "詢問裝修申請流程", "諮詢車位租賃", "詢問快遞代收時間",
                 "諮詢發票開具"), ("", "", "", "財務部")),
    "投訴": (12, ("樓上深夜噪音擾民", "鄰居佔用消防通道停車", "垃圾房異味嚴重", "物業費賬單金額有誤",
                 "保安態度不佳", "寵物糞便無人清理"), ("秩序維護部", "環境部", "財務部", "秩序維護部")),
    "建議": (8, ("建議增設電動車充電樁", "建議延長會所開放時間", "建議增加兒童遊樂設施"),
           ("", "綜合管理部")),
    "其他": (13, ("門禁卡失效需補辦", "申請裝修出入證", "借用會議室", "領取遺失物品"), ("", "")),
    "緊急": (2, ("單元門口有人暈倒，需要急救", "地下室冒煙", "電梯困人"), ("秩序維護部", "工程部")),
}
_CATEGORY_NAMES = tuple(_CATEGORIES)
_CATEGORY_WEIGHTS = tuple(v[0] for v in _CATEGORIES.values())
_RESULTS = ("已修復", "已解答", "已處理", "已改善", "已完成")
_SATISFACTION = ("滿意", "基本滿意", "不滿意")


@dataclass
class Sheet:
    """A generated main tab: header row and data rows (lists in HEADERS order)."""

    today: dt.date
    rows: list[list[Any]]

    @property
    def values(self) -> list[list[Any]]:
        return [list(HEADERS), *self.rows]


def generate(count: int, today: dt.date, seed: int = 20260310) -> Sheet:
    """`count` receptions over the two years up to `today`, oldest first."""
    rng = random.Random(seed)
    start = today.toordinal() - HISTORY_DAYS
    days = sorted(rng.randrange(start, today.toordinal() + 1) for _ in range(count))
    rows = [_reception(rng, dt.date.fromordinal(day), today) for day in days]
    return Sheet(today, rows)


def _reception(rng: random.Random, day: dt.date, today: dt.date) -> list[Any]:
    age = (today - day).days
    category = rng.choices(_CATEGORY_NAMES, _CATEGORY_WEIGHTS)[0]
    _, matters, departments = _CATEGORIES[category]
    moment = dt.datetime.combine(day, dt.time(rng.randrange(8, 20), rng.randrange(60)))
    if age == 0:
        moment = dt.datetime.combine(day, dt.time(rng.randrange(0, 9), rng.randrange(60)))
    # Most receptions are closed within days; recent ones are often still open; a few old ones
    # were forgotten (they sit in the manager's queue).
    open_chance = 0.6 if age <= 2 else 0.35 if age <= 7 else 0.09
    is_open = rng.random() < open_chance
    department = rng.choice(departments)
    row: list[Any] = [""] * len(KEYS)
    received: Any = moment
    if rng.random() < 0.08:  # typed as text, as staff do
        received = f"{day:%Y-%m-%d} {moment:%H:%M}" if rng.random() < 0.7 else f"{day.year}年{day.month}月{day.day}日"
    row[COLUMN["received_at"]] = received
    row[COLUMN["channel"]] = rng.choices(_CHANNELS, _CHANNEL_WEIGHTS)[0]
    row[COLUMN["owner_name"]] = rng.choice(_SURNAMES) + ("先生" if rng.random() < 0.4 else rng.choice(_GIVEN) + rng.choice(_GIVEN))
    row[COLUMN["phone"]] = f"1{rng.choice('35789')}{rng.randrange(10 ** 9):09d}" if rng.random() < 0.93 else ""
    row[COLUMN["room"]] = f"{rng.randrange(1, 13)}-{rng.randrange(1, 4)}-{rng.randrange(1, 33):02d}{rng.randrange(1, 5):02d}"
    row[COLUMN["matter"]] = rng.choice(matters)
    row[COLUMN["category"]] = category if rng.random() < 0.97 else rng.choice(("", "維修", "咨詢"))
    row[COLUMN["recorded_by"]] = rng.choice(_STAFF)
    row[COLUMN["department"]] = department
    row[COLUMN["handling"]] = "已派員跟進" if department else "前臺當場處理"
    if not is_open:
        took = rng.choices((0, 1, 2, 4, 6, 10, 20), (40, 25, 12, 8, 6, 6, 3))[0]
        done = min(day + dt.timedelta(days=took), today)
        row[COLUMN["result"]] = rng.choice(_RESULTS)
        row[COLUMN["completed_at"]] = done
        if done >= today - dt.timedelta(days=60) or rng.random() < 0.8:
            row[COLUMN["satisfaction"]] = rng.choices(_SATISFACTION, (70, 22, 8))[0] if rng.random() < 0.8 else ""
    elif age > 30 and rng.random() < 0.03:
        row[COLUMN["unresolvable_reason"]] = "需業委會表決動用維修基金，物業無權自行施工"
    if age >= 1 and rng.random() < (0.95 if age > 30 else 0.6):
        row[COLUMN["supervisor_review"]] = rng.choice(_REVIEWERS)
    if age > 7 and rng.random() < 0.9:
        row[COLUMN["manager_review"]] = "已閱"
    # The mistakes staff make, rarely.
    mistake = rng.random()
    if mistake < 0.004:
        row[COLUMN["room"]] = ""
    elif mistake < 0.005:
        row[COLUMN["received_at"]] = "上週三"
    elif mistake < 0.007 and is_open:
        row[COLUMN["result"]] = "已處理"
    return row


def changed_rows(sheet: Sheet, share: float = 0.01, seed: int = 7) -> list[tuple[int, dict[str, Any]]]:
    """Staff's edits between two cycles touching `share` of the rows: (0-based data row, {key: value}).

    Mostly open items finished today (完成日期 and 處理結果: the row's status, owner and due date
    change), the rest follow-up answers and supervisor reviews filled (summary tabs change, worker
    columns do not) — what a front desk does to a log between two runs."""
    rng = random.Random(seed)
    count = max(1, round(len(sheet.rows) * share))
    today = sheet.today
    open_rows = [i for i, row in enumerate(sheet.rows)
                 if row[COLUMN["completed_at"]] == "" and row[COLUMN["room"]] != ""
                 and isinstance(row[COLUMN["received_at"]], dt.datetime)]
    closed_rows = [i for i, row in enumerate(sheet.rows) if row[COLUMN["completed_at"]] != ""]
    closing = rng.sample(open_rows, min(len(open_rows), round(count * 0.7)))
    others = rng.sample(closed_rows, min(len(closed_rows), count - len(closing)))
    edits = [(i, {"result": "已處理", "completed_at": today}) for i in closing]
    for i in others:
        if sheet.rows[i][COLUMN["satisfaction"]] == "":
            edits.append((i, {"satisfaction": rng.choice(_SATISFACTION)}))
        else:
            edits.append((i, {"supervisor_review": "已審核", "manager_review": "已閱"}))
    return sorted(edits)


def apply_edits(sheet: Sheet, edits: list[tuple[int, dict[str, Any]]]) -> None:
    for index, cells in edits:
        for key, value in cells.items():
            sheet.rows[index][COLUMN[key]] = value
