"""Mails laid out by a real browser: headless Chromium, measured at a phone's and a desk's width.

Chromium's own command line is enough (no driver package): `--dump-dom` prints the page after its
scripts ran, so a harness page holds the mail in an `<iframe>` of the width under test (the
media queries answer to the frame's width), measures it with a script, and writes the figures
as JSON into the page. `--screenshot` gives a picture to look at.

Run by hand to look at the demo's mails: `python -m tests.mail_browser OUTBOX_DIR SHOTS_DIR`.
"""

from __future__ import annotations

import base64
import email
import email.policy
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM_NAMES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
PHONE, DESK = 390, 1024
PHONE_SCREEN_HEIGHT = 844  # an iPhone 12–15 viewport: 390 × 844

# Run in the harness page once the frame has loaded: what SPEC 4.2 asks of a mail on a screen.
MEASURE = r"""
function measure(frame) {
  var doc = frame.contentDocument, win = frame.contentWindow,
      out = {wrapped: [], squeezed: [], headers: [], width: win.innerWidth};
  function lines(el) {
    // How many lines the element's text takes: the bottoms of its text's boxes, those less than
    // half a line apart counted once (Latin and CJK glyphs of one line sit a pixel apart; a
    // legend's colour box is not text).
    var walker = doc.createTreeWalker(el, NodeFilter.SHOW_TEXT), node, bottoms = [];
    while ((node = walker.nextNode())) {
      var range = doc.createRange();
      range.selectNodeContents(node);
      var rects = range.getClientRects();
      for (var i = 0; i < rects.length; i++) if (rects[i].width > 0) bottoms.push(rects[i].bottom);
    }
    bottoms.sort(function (a, b) { return a - b; });
    var half = parseFloat(win.getComputedStyle(el).fontSize) / 2, count = 0, last = -1e9;
    bottoms.forEach(function (bottom) { if (bottom - last > half) { count++; last = bottom; } });
    return count;
  }
  doc.querySelectorAll('.nb').forEach(function (el) {
    if (!el.getClientRects().length) return;
    if (lines(el) > 1) out.wrapped.push(el.textContent);
  });
  doc.querySelectorAll('td, th').forEach(function (el) {
    var box = el.getBoundingClientRect(), style = win.getComputedStyle(el);
    if (el.classList.contains('num')) return;  // a column of numbers, not of text
    if (!box.width || style.display === 'none' || !el.textContent.trim()) return;
    var padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
    var inner = box.width - padding, size = parseFloat(style.fontSize);
    // A cell narrower than 6 characters whose text has to wrap is a squeezed column.
    if (inner < 6 * size - 0.5 && lines(el) > 1) out.squeezed.push(el.textContent.trim().slice(0, 30));
  });
  doc.querySelectorAll('th').forEach(function (el) {  // a header over figures wrapping mid-word
    if (el.getClientRects().length && el.textContent.trim() && lines(el) > 1) out.headers.push(el.textContent.trim());
  });
  var action = doc.querySelector('.action');
  out.actionTop = action ? action.getBoundingClientRect().top + win.scrollY : null;
  var heading = action ? action.querySelector('h2') : null;
  out.actionHeadingBottom = heading ? heading.getBoundingClientRect().bottom + win.scrollY : null;
  out.scrollWidth = doc.documentElement.scrollWidth;
  out.height = doc.documentElement.scrollHeight;
  out.cards = Array.prototype.map.call(doc.querySelectorAll('table.rows tr'), function (tr) {
    return win.getComputedStyle(tr).display;
  }).filter(function (d, i, all) { return all.indexOf(d) === i; });
  return out;
}
"""


def chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def mail_html(path: Path) -> str:
    """The HTML part of an .eml, its `cid:` pictures turned into data: URIs so a browser shows them."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = message.get_body(("html",)).get_content()
    for part in message.walk():
        cid = (part["Content-ID"] or "").strip("<>")
        if cid:
            data = base64.b64encode(part.get_payload(decode=True)).decode("ascii")
            body = body.replace(f"cid:{cid}", f"data:{part.get_content_type()};base64,{data}")
    return body


def _chromium(args: list[str], timeout: int = 90) -> subprocess.CompletedProcess:
    program = chromium()
    base = [program, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--disable-extensions", "--mute-audio"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout, check=False)


def measure(page: str, width: int, work: Path) -> dict:
    """Lay `page` out in a frame `width` px wide; the figures MEASURE returns."""
    harness = work / f"harness-{width}.html"
    harness.write_text(
        "<!DOCTYPE html><html><body style='margin:0'>"
        f"<iframe id='mail' style='border:0;width:{width}px;height:{PHONE_SCREEN_HEIGHT}px' "
        f"srcdoc=\"{html.escape(page, quote=True)}\"></iframe><pre id='out'></pre>"
        f"<script>{MEASURE}\ndocument.getElementById('mail').onload = function () {{"
        "document.getElementById('out').textContent = JSON.stringify(measure(this)); };</script>"
        "</body></html>", encoding="utf-8")
    result = _chromium(["--virtual-time-budget=5000", "--dump-dom", harness.as_uri()])
    match = re.search(r"<pre id=\"out\">(.*?)</pre>", result.stdout, re.S)
    if not match or not match.group(1):
        raise RuntimeError(f"Chromium printed no measurement: {result.stderr[-2000:]}")
    return json.loads(html.unescape(match.group(1)))


def screenshot(page: str, width: int, height: int, target: Path) -> Path:
    source = target.with_suffix(".html")
    source.write_text(page, encoding="utf-8")
    _chromium([f"--window-size={width},{height}", f"--screenshot={target}", source.as_uri()])
    return target


def main(outbox: str, shots: str) -> None:
    folder = Path(shots)
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(outbox).glob("*.eml")):
        page = mail_html(path)
        for width in (PHONE, DESK):
            figures = measure(page, width, folder)
            print(path.name, width, json.dumps(figures, ensure_ascii=False))
            screenshot(page, width, min(figures["height"], 6000), folder / f"{path.stem}-{width}.png")


if __name__ == "__main__":
    main(*sys.argv[1:3])
