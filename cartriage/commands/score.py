"""`cartriage score --data FILE.jsonl`: one JSON line per record, an error line for a bad one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cartriage import config as configuration
from cartriage.errors import InputError
from cartriage.scoring import predict_records
from cartriage.scoring.predict import to_line
from cartriage.scoring.records import read_jsonl


def run(data: Path, output: Path | None = None, config: Path | None = None) -> int:
    settings = configuration.load(explicit=config)
    rows = read_jsonl(data)
    records = [record for _, record, _ in rows if record is not None]
    predictions = iter(predict_records(records, settings))
    lines = []
    for number, record, error in rows:
        if record is None:
            lines.append({"id": None, "line": number, "error": error})
        else:
            lines.append(to_line(next(predictions)))
    text = "".join(json.dumps(line, sort_keys=False) + "\n" for line in lines)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--output {output}: cannot write: {exc.strerror}") from None
    failed = sum("error" in line for line in lines)
    if failed:
        print(f"cartriage: {failed} of {len(lines)} records not scored (see their error lines)",
              file=sys.stderr)
    return 0
