"""Replies a real small model wrote, checked against the findings schema."""

from __future__ import annotations

import pytest

from cartriage.review.validate import Malformed, check_findings, parse_json


def test_a_finding_beside_an_empty_list_is_malformed_so_it_gets_a_repair():
    # Qwen2.5-Coder-0.5B, reviewing a commit of this repository (benchmarks/bench_local_model.py)
    reply = ('```json\n{\n  "findings": [],\n  "category": "bug",\n  "title": "The change '
             'introduces an error",\n  "explanation": "log_range is not documented"\n}\n```')
    with pytest.raises(Malformed, match="outside the \"findings\" list"):
        check_findings(parse_json(reply))
    assert check_findings(parse_json('```json\n{"findings": []}\n```')) == ([], [])
