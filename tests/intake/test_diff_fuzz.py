"""Generated diffs: every one parses or is refused with InputError, quickly."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz_inputs import check_diff, diffs  # noqa: E402

from cartriage.intake.diff import parse_diff  # noqa: E402


@settings(max_examples=2500, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(diffs)
def test_no_generated_diff_breaks_the_parser(data):
    assert check_diff(data).problem() == ""


def test_the_classes_the_issue_found():
    for header in ('diff --git "a/\\777x" "b/\\777x"', 'diff --git "a/\\9z" "b/\\9z"',
                   'diff --git a/x "', "diff --git", 'diff --git "', 'diff --git "a/x'):
        assert check_diff(f"{header}\n--- a/x\n+++ b/x\n@@ -0,0 +1 @@\n+y\n".encode()) \
            .problem() == "", header
    files = parse_diff(b'diff --git "a/\\303\\251\\777" "b/\\303\\251\\777"\n'
                       b"new file mode 100644\n")
    assert files[0].path == "\u00e9777"  # a byte escape decodes; 0o777 is no byte
