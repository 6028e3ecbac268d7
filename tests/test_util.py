"""cbedfeat._util: progress bars that stay quiet in log files."""

from __future__ import annotations

import io

from cbedfeat._util import LOG_REFRESH_SECONDS, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_in_a_log_file_redraws_rarely():
    log = io.StringIO()
    with progress_bar(range(5000), file=log, desc="work") as bar:
        assert bar.mininterval == LOG_REFRESH_SECONDS
        assert bar.maxinterval >= LOG_REFRESH_SECONDS
        for _ in bar:
            pass
    # The first draw and the final one, not one per update.
    assert 1 <= log.getvalue().count("\r") <= 3
    assert "5000/5000" in log.getvalue()


def test_bar_on_a_terminal_keeps_tqdm_defaults():
    term = _Terminal()
    with progress_bar(total=10, file=term) as bar:
        assert bar.mininterval < 1.0
        assert not bar.disable


def test_enabled_none_shows_the_bar_only_on_a_terminal():
    assert progress_bar(total=1, file=io.StringIO(), enabled=None).disable
    assert not progress_bar(total=1, file=_Terminal(), enabled=None).disable
    assert progress_bar(total=1, file=_Terminal(), enabled=False).disable


def test_explicit_interval_wins():
    with progress_bar(total=1, file=io.StringIO(), mininterval=1.0) as bar:
        assert bar.mininterval == 1.0
