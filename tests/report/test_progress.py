"""Progress: plain lines in a pipe or CI, a live display on a terminal, nothing when quiet."""

from __future__ import annotations

import io
import threading

from cartriage import report


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_piped():
    stream = io.StringIO()
    progress = report.progress(2, stream=stream, budget_tokens=20000, budget_usd=0.5)
    progress("app/a.py", 1, 2, 1200, 0.0012)
    progress("app/b.py#2", 2, 2, 2400, None)
    progress.close()
    assert stream.getvalue().splitlines() == [
        "cartriage: [1/2] app/a.py; spent 1,200 of 20,000 tokens, $0.0012 of $0.5000",
        "cartriage: [2/2] app/b.py#2; spent 2,400 of 20,000 tokens",
    ]


def test_plain_lines_in_ci_even_on_a_terminal(monkeypatch):
    monkeypatch.setenv("CI", "true")
    stream = Terminal()
    with report.progress(1, stream=stream) as progress:
        progress("a.py", 1, 1, 10, 0.0)
    assert stream.getvalue() == "cartriage: [1/1] a.py; spent 10 tokens, $0\n"


def test_a_late_report_of_fewer_units_done_is_ignored():
    stream = io.StringIO()
    progress = report.progress(3, stream=stream)
    for done in (1, 3, 2):
        progress(f"u{done}", done, 3, 100 * done, None)
    assert [line.split("]")[0] for line in stream.getvalue().splitlines()] == [
        "cartriage: [1/3", "cartriage: [3/3"]


def test_live_display_on_a_terminal(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    stream = Terminal()
    progress = report.progress(3, stream=stream)
    assert progress.live
    threads = [threading.Thread(target=progress, args=(f"u{i}", i, 3, 100 * i, 0.001 * i))
               for i in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    progress.close()
    out = stream.getvalue()
    assert "cartriage: [" not in out  # no log lines
    assert "Reviewing" in out and "3/3" in out


def test_quiet_prints_nothing():
    stream = Terminal()
    with report.progress(1, stream=stream, quiet=True) as progress:
        progress("a.py", 1, 1, 10, 0.0)
    assert stream.getvalue() == ""


def test_live_display_shows_paths_with_brackets_as_text(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    stream = Terminal()
    progress = report.progress(2, stream=stream)
    progress("app/[slug]/page.tsx", 1, 2, 10, None)
    progress("src/[/]evil.py", 2, 2, 20, None)  # not a markup error
    progress.close()
    assert "src/[/]evil.py" in stream.getvalue()  # the last update, shown as written
