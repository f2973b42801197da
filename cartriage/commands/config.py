"""`cartriage config`: the effective configuration and where each value came from."""

from __future__ import annotations

import json

from cartriage import calibration
from cartriage import config as configuration
from cartriage.commands import common
from cartriage.ledger import masked


def run(*, repo, config, fmt) -> int:
    common.check_format(fmt, ("text", "json"), "config")
    settings = common.load_config(repo, config)
    rows = [(k, masked(v) if k == "ledger.url" and v else v, s)  # no password is printed
            for k, v, s in configuration.effective(settings)]
    measured = calibration.configured(settings)
    if fmt == "json":
        payload = {"files": list(settings.files),
                   "values": [{"key": k, "value": v, "source": s} for k, v, s in rows],
                   "miss_probabilities": measured.describe() if measured else "modelled "
                   "([strategies.<name>] recall, difficulty_slope, correlations)"}
        print(json.dumps(payload, indent=2))
        return 0
    print("files: " + (", ".join(settings.files) if settings.files else "none (defaults only)"))
    width = max(len(k) for k, _, _ in rows)
    for key, value, source in rows:
        shown = json.dumps(value) if not isinstance(value, (int, float)) or isinstance(
            value, bool) else repr(value)
        print(f"{key:<{width}}  {shown}  [{source}]")
    if measured is not None:
        print(measured.describe())
    return 0
