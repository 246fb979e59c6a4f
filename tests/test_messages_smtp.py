"""The messages through a real SMTP server on loopback, from the real `run` path.

The workbook is the demo's sample (automation.application.demo.write_sample_workbook) plus a complaint whose
事由 carries a `<script>`; the server is aiosmtpd with STARTTLS (trustme certificate) and AUTH.
What the server received is parsed with the standard `email` package.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from PIL import Image

from automation.application.demo import SAMPLES, write_sample_workbook
from tests.messages_support import (
    CENTER, MANAGER, SUPERVISOR, append_rows, at, html_of, log_events, reception, run, smtp_mail, text_of,
    write_config,
)
from tests.smtp_server import PASSWORD, LoopbackSmtp, ca, ca_file, free_port  # noqa: F401  (ca fixtures)

NOW = at("2026-03-09 09:30")  # a Monday after the review time: every kind of message is due
SCRIPT = "<script>alert('x')</script> 電梯困人"
PASSWORD_ENV = "RECEPTION_TEST_SMTP_PASSWORD"
EXPECTED_SUBJECTS = sorted([
    f"[{CENTER}] 客服主管每日隊列 2026-03-09",
    f"[{CENTER}] 經理隊列 2026-03-09",
    f"[{CENTER}] 上週接待記錄審核 2026-W10",
    f"[{CENTER}] 投訴 R20260225-001",  # the demo's open complaints ...
    f"[{CENTER}] 投訴 R20260302-001",
    f"[{CENTER}] 投訴 R20260306-001",
    f"[{CENTER}] 投訴 R20260308-004",  # ... and the one with the <script>
    f"[{CENTER}] 緊急 R20260306-002",
    f"[{CENTER}] 緊急 R20260306-002",
    f"[{CENTER}] 季度復審 2025-Q4",  # 03-09 is past 2026-Q1's first Monday: the review of 2025-Q4
    f"[{CENTER}] 季度復審 2025-Q4",
])
ALL = len(EXPECTED_SUBJECTS)


@pytest.fixture
def workbook(tmp_path):
    path = tmp_path / "data" / "錦繡花園.xlsx"
    write_sample_workbook(path, NOW.date())
    append_rows(path, [reception("2026-03-08", SCRIPT, "投訴", phone="13912345678")])
    return path


@pytest.fixture
def password(monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


def sent_rows(workbook) -> list[list]:
    return log_events(workbook, "郵件已發送")


def failed_rows(workbook) -> list[list]:
    return log_events(workbook, "郵件發送失敗")


def png_size(data: bytes) -> tuple[int, int]:
    """The size of a PNG that decodes whole (every chunk's CRC checked by Pillow's full load)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.size


def test_every_message_over_starttls_with_login(tmp_path, workbook, ca, ca_file, password):
    assert len(SAMPLES) > 20  # the demo's rows are what this test reads
    with LoopbackSmtp(tls=ca, auth=True) as server:
        config = write_config(tmp_path, workbook, mail=smtp_mail(server.port, security="starttls",
                                                                   ca_file=ca_file, password_env=PASSWORD_ENV))
        result = run(config, NOW)
        assert result.code == 0, result.err
        received = list(server.received)
        assert run(config, NOW + dt.timedelta(minutes=5)).code == 0
        assert len(server.received) == len(received)  # nothing twice

    assert all(item.encrypted and item.authenticated for item in received)
    messages = [item.parsed() for item in received]
    assert sorted(str(m["Subject"]) for m in messages) == EXPECTED_SUBJECTS
    # Emergencies go first, ahead of any digest.
    assert [str(m["Subject"]).split()[1] for m in messages[:2]] == ["緊急", "緊急"]

    for item, message in zip(received, messages):
        # One recipient per message, the envelope agreeing with the header.
        [to] = message["To"].addresses
        assert item.rcpt_tos == [to.addr_spec] and item.mail_from == "frontdesk@example.com"
        assert message["From"].addresses[0].display_name == CENTER
        # Headers travel as ASCII, Chinese as RFC 2047 encoded words.
        head = item.content.split(b"\r\n\r\n", 1)[0]
        head.decode("ascii")
        assert b"=?utf-8?" in head
        # Both parts, UTF-8, naming the center; phones masked everywhere.
        assert message.get_content_type() == "multipart/alternative"
        plain, html = message.get_body(("plain",)), message.get_body(("html",))
        assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
        for body in (plain.get_content(), html.get_content()):
            assert CENTER in body
            assert not re.search(r"1[3-9]\d{9}", body), "an unmasked phone"
        subject = str(message["Subject"])
        if "投訴" in subject or "緊急" in subject or "隊列" in subject:
            assert re.search(r"1[3-9]\d\*{4}\d{4}", plain.get_content())
        record_id = subject.split()[-1]
        if record_id.startswith("R"):
            assert record_id in plain.get_content() and record_id in html.get_content()

    recipients = {str(m["Subject"]): m["To"].addresses[0].addr_spec for m in messages}
    assert recipients[f"[{CENTER}] 客服主管每日隊列 2026-03-09"] == SUPERVISOR
    assert recipients[f"[{CENTER}] 經理隊列 2026-03-09"] == MANAGER
    assert recipients[f"[{CENTER}] 上週接待記錄審核 2026-W10"] == MANAGER
    assert recipients[f"[{CENTER}] 投訴 R20260308-004"] == SUPERVISOR
    assert sorted(m["To"].addresses[0].addr_spec for m in messages if "緊急" in str(m["Subject"])) == [MANAGER, SUPERVISOR]

    # The <script> typed into 事由: escaped in HTML, as typed in plain text.
    [alert] = [m for m in messages if str(m["Subject"]).endswith("R20260308-004")]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; 電梯困人" in html_of(alert)
    assert "<script>" not in html_of(alert)
    assert SCRIPT in text_of(alert)
    assert "139****5678" in text_of(alert) and "139****5678" in html_of(alert)
    [digest] = [m for m in messages if "客服主管每日隊列" in str(m["Subject"])]
    assert "<script>" not in html_of(digest) and "&lt;script&gt;" in html_of(digest)

    # The weekly review's chart: an inline PNG referenced by the HTML.
    [review] = [m for m in messages if "上週接待記錄審核" in str(m["Subject"])]
    [image] = [part for part in review.walk() if part.get_content_type() == "image/png"]
    assert image.get_content_disposition() == "inline"
    assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html_of(review)
    assert png_size(image.get_content()) == (1200, 850)  # 480 × 340 CSS pixels at 2.5×

    # The quarterly review, to both: the problems found first, then the figures, then the chart.
    quarterly = [m for m in messages if "季度復審" in str(m["Subject"])]
    assert sorted(m["To"].addresses[0].addr_spec for m in quarterly) == [MANAGER, SUPERVISOR]
    page = html_of(quarterly[0])
    assert page.index("2025-Q4 發現的問題") < page.index("季度數字") < page.index("近 4 季趨勢")
    [image] = [part for part in quarterly[0].walk() if part.get_content_type() == "image/png"]
    assert f'src="cid:{image["Content-ID"].strip("<>")}"' in page
    assert png_size(image.get_content()) == (1200, 850)  # the same phone-wide chart as the weekly one

    # The log records each message once, by its Message-ID.
    logged = " ".join(row[3] for row in sent_rows(workbook))
    assert all(str(m["Message-ID"]) in logged for m in messages)


def test_server_down_nothing_recorded_exit_4_failure_logged_once_then_all_sent_once(tmp_path, workbook):
    port = free_port()  # nobody listens there yet
    config = write_config(tmp_path, workbook, mail=smtp_mail(port))

    first = run(config, NOW)
    assert first.code == 4
    assert f"{ALL} 封郵件未能發送" in first.err
    assert sent_rows(workbook) == []
    failures = failed_rows(workbook)
    assert len(failures) == ALL
    assert all("郵件伺服器無法連接" in row[3] for row in failures)

    # Still down at the next runs: retried, and not logged again.
    assert run(config, NOW + dt.timedelta(minutes=5)).code == 4
    assert run(config, NOW + dt.timedelta(minutes=10)).code == 4
    assert len(failed_rows(workbook)) == ALL

    with LoopbackSmtp(port=port) as server:
        back = run(config, NOW + dt.timedelta(minutes=15))
        assert back.code == 0, back.err
        assert sorted(str(m["Subject"]) for m in server.messages()) == EXPECTED_SUBJECTS
        assert run(config, NOW + dt.timedelta(minutes=20)).code == 0
        assert len(server.received) == ALL
    assert len(failed_rows(workbook)) == ALL
    assert len({row[3] for row in sent_rows(workbook)}) == ALL


def test_refused_login_is_retried_with_the_right_password(tmp_path, workbook, ca, ca_file, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "wrong-" + PASSWORD)
    with LoopbackSmtp(tls=ca, auth=True) as server:
        config = write_config(tmp_path, workbook, mail=smtp_mail(server.port, security="starttls",
                                                                   ca_file=ca_file, password_env=PASSWORD_ENV))
        refused = run(config, NOW)
        assert refused.code == 4
        assert server.received == [] and sent_rows(workbook) == []
        failures = failed_rows(workbook)
        assert len(failures) == ALL and all("郵件伺服器拒絕登入 (535" in row[3] for row in failures)
        assert all(PASSWORD not in row[3] for row in failures)

        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        assert run(config, NOW + dt.timedelta(minutes=5)).code == 0
        assert sorted(str(m["Subject"]) for m in server.messages()) == EXPECTED_SUBJECTS
        assert server.logins == 1  # one connection served every message


def test_one_refused_recipient_holds_only_that_recipients_messages(tmp_path, workbook):
    with LoopbackSmtp(refuse=(MANAGER,)) as server:
        config = write_config(tmp_path, workbook, mail=smtp_mail(server.port))
        result = run(config, NOW)
        assert result.code == 4
        delivered = [item.rcpt_tos for item in server.received]
        assert delivered and all(rcpt == [SUPERVISOR] for rcpt in delivered)
        assert len(delivered) == 7  # digest + 4 complaints + emergency + quarterly review
        failures = failed_rows(workbook)
        assert len(failures) == 4 and all("收件人被拒絕 (manager@example.com: 550" in row[3] for row in failures)
        assert all(MANAGER not in row[3] for row in sent_rows(workbook))

        assert run(config, NOW + dt.timedelta(minutes=5)).code == 4  # still refused
        assert len(server.received) == 7 and len(failed_rows(workbook)) == 4

        server.refuse.clear()
        assert run(config, NOW + dt.timedelta(minutes=10)).code == 0
        late = [item.parsed() for item in server.received[7:]]
        assert sorted(str(m["Subject"]) for m in late) == sorted([
            f"[{CENTER}] 經理隊列 2026-03-09", f"[{CENTER}] 上週接待記錄審核 2026-W10", f"[{CENTER}] 緊急 R20260306-002",
            f"[{CENTER}] 季度復審 2025-Q4"])
        assert all(m["To"].addresses[0].addr_spec == MANAGER for m in late)
        assert run(config, NOW + dt.timedelta(minutes=15)).code == 0
        assert len(server.received) == ALL


def test_an_untrusted_certificate_is_a_pending_delivery(tmp_path, workbook, ca):
    with LoopbackSmtp(tls=ca) as server:
        config = write_config(tmp_path, workbook, mail=smtp_mail(server.port, security="starttls"))  # no ca_file
        result = run(config, NOW)
        assert result.code == 4
        assert server.received == []
        assert all("伺服器證書不受信任" in row[3] for row in failed_rows(workbook))
