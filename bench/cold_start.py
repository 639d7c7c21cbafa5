"""Cold start: each function's handler module imported in a fresh interpreter, as Lambda's INIT phase does.

    .venv/bin/python bench/cold_start.py [--runs 5] [--json OUT.json]

Each run is a new process with the function's environment from template.yaml (plus the variables the Lambda
runtime sets, so powertools behaves as deployed: the tracer is on and loads the X-Ray SDK), ``sys.path`` =
function code + shared layer, as ``/var/task`` + ``/opt/python``. Two bytecode situations:

- ``with_bytecode``: valid ``.pyc`` for every module (a private ``PYTHONPYCACHEPREFIX`` warmed by one import);
  what a package built with hash-based ``.pyc`` gets (``compileall --invalidation-mode unchecked-hash``);
- ``without_bytecode``: no valid ``.pyc`` anywhere (an empty ``PYTHONPYCACHEPREFIX``, nothing written): what
  ``sam build`` + ``sam deploy`` ship today, because the zip entries carry fixed 1980 timestamps and every
  timestamp-based ``.pyc`` is rejected at import (aws/aws-lambda-builders#924), and the read-only file system
  keeps nothing between environments.

The **baseline** is measured in the same run, interleaved with every function's runs: ``import boto3`` and a
powertools ``Logger()`` in a fresh interpreter with the same Lambda variables (the least any of our handlers can
import); each handler's import is also reported as a ratio to it, which a busy or slower machine disturbs less
than the absolute figures.

One ``-X importtime`` run per function says where the time goes (self time summed per top-level package).
The handler's first invocation also pays for boto3/botocore (clients are created lazily, on first use); that
is measured apart as ``first_client_ms``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / "layers" / "shared"
sys.path.insert(0, str(SHARED))

LOCAL_PARAMETERS = {"SalesforceEventBusName": "salesforce-partner-bus", "SalesforceOrgId": "00D5e000000LoClEAK"}
TIMER = (
    "import time; t, c = time.perf_counter(), time.process_time(); import {module}; "
    "print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)"
)
BASELINE = "import boto3\nfrom aws_lambda_powertools import Logger\nLogger()"
BASELINE_TIMER = (
    f"import time; t, c = time.perf_counter(), time.process_time()\n{BASELINE}\n"
    "print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)"
)
BASELINE_CLIENT_TIMER = (
    f"{BASELINE}\nimport time; t = time.perf_counter(); import boto3; "
    "boto3.session.Session().client('dynamodb', region_name='us-east-1'); print((time.perf_counter() - t) * 1000)"
)
LEAD_PATH = ("LeadIntakeFunction", "LeadTaggingFunction", "LeadAssignmentFunction", "LeadRerouteFunction",
             "SalesforceWritebackFunction", "ReportAggregatesFunction", "LeadReconcileFunction")  # fmt: skip
UPLOADS = ("TerritoryUploadFunction", "RosterUploadFunction")
CLIENT_TIMER = (
    "import time, {module}; t = time.perf_counter(); import boto3; "
    "boto3.session.Session().client('dynamodb', region_name='us-east-1'); print((time.perf_counter() - t) * 1000)"
)


def function_specs() -> list[Any]:
    from territory_router_tools.local.template import Template

    return Template.load(REPO / "template.yaml", parameter_overrides=LOCAL_PARAMETERS).functions()


def lambda_env(spec: Any, pycache: Path, write_bytecode: bool) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{spec.code_uri}{os.pathsep}{SHARED}",
        "PYTHONPYCACHEPREFIX": str(pycache),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        **spec.environment,
    }
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(code: str, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", code], env=env, cwd=tempfile.gettempdir(), text=True, capture_output=True,
        check=True,
    )


def importtime_by_package(stderr: str, top: int = 8) -> dict[str, float]:
    """Self time (ms) per top-level package from ``-X importtime`` output, largest first."""
    totals: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[0].startswith("import time:"):
            continue
        try:
            self_us = int(parts[0].split(":", 1)[1])
        except ValueError:
            continue
        totals[parts[2].strip().split(".")[0]] += self_us / 1000
    return dict(sorted(((k, round(v, 1)) for k, v in totals.items()), key=lambda kv: -kv[1])[:top])


def summary(samples: list[list[float]]) -> dict[str, float]:
    """Median and min of wall and CPU time; CPU time is what a busy shared machine disturbs least."""
    wall, cpu = [s[0] for s in samples], [s[1] for s in samples]
    return {"median": statistics.median(wall), "min": min(wall), "cpu_median": statistics.median(cpu),
            "cpu_min": min(cpu)}  # fmt: skip


def measure(runs: int = 5, log=print, only: set[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": runs, "functions": {}, "baseline": {"code": BASELINE}}
    baseline_pyc, baseline_cold = [], []
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        base_spec = _baseline_spec()
        base_warm_cache, base_empty_cache = Path(tmp) / "baseline-pyc", Path(tmp) / "baseline-empty"
        base_warm_cache.mkdir()
        base_empty_cache.mkdir()
        _run(BASELINE_CLIENT_TIMER, lambda_env(base_spec, base_warm_cache, write_bytecode=True))
        base_warm = lambda_env(base_spec, base_warm_cache, write_bytecode=False)
        base_cold = lambda_env(base_spec, base_empty_cache, write_bytecode=False)
        # What the baseline's first AWS client costs after it (boto3 already imported): a handler that defers boto3
        # to its first invocation pays the import there instead; "import + first client" compares the two fairly.
        out["baseline"]["first_client_ms"] = statistics.median(
            float(_run(BASELINE_CLIENT_TIMER, base_warm).stdout) for _ in range(runs)
        )
        for spec in function_specs():
            if only and spec.logical_id not in only:
                continue
            module = spec.handler.rpartition(".")[0]
            warm_cache = Path(tmp) / f"{spec.logical_id}-pyc"
            empty_cache = Path(tmp) / f"{spec.logical_id}-empty"
            warm_cache.mkdir()
            empty_cache.mkdir()
            code = TIMER.format(module=module)
            # Writes the .pyc of every module the import and the first client load (a handler that imports boto3
            # only at its first invocation would otherwise time the client with boto3 compiled from source).
            _run(CLIENT_TIMER.format(module=module), lambda_env(spec, warm_cache, write_bytecode=True))
            warm = lambda_env(spec, warm_cache, write_bytecode=False)
            cold = lambda_env(spec, empty_cache, write_bytecode=False)
            with_pyc, without_pyc = [], []
            for _ in range(runs):  # interleaved with the baseline, so a busy moment hurts all alike
                with_pyc.append([float(x) for x in _run(code, warm).stdout.split()])
                without_pyc.append([float(x) for x in _run(code, cold).stdout.split()])
                baseline_pyc.append([float(x) for x in _run(BASELINE_TIMER, base_warm).stdout.split()])
                baseline_cold.append([float(x) for x in _run(BASELINE_TIMER, base_cold).stdout.split()])
            profile = _run(f"import {module}", warm, "-X", "importtime").stderr
            client_ms = [float(_run(CLIENT_TIMER.format(module=module), warm).stdout) for _ in range(runs)]
            row = {
                "memory_mb": spec.memory_mb,
                "with_bytecode_ms": summary(with_pyc),
                "without_bytecode_ms": summary(without_pyc),
                "self_ms_by_package": importtime_by_package(profile),
                "first_client_ms": statistics.median(client_ms),
            }
            out["functions"][spec.logical_id] = row
            base = summary(baseline_pyc)["cpu_median"]
            log(
                f"  {spec.logical_id:30} import {row['with_bytecode_ms']['median']:6.0f} ms wall "
                f"{row['with_bytecode_ms']['cpu_median']:6.0f} ms CPU = {row['with_bytecode_ms']['cpu_median'] / base:4.2f}x "
                f"baseline (without .pyc {row['without_bytecode_ms']['median']:6.0f} ms), first boto3 client "
                f"{row['first_client_ms']:4.0f} ms"
            )
        if baseline_pyc:
            out["baseline"].update(
                with_bytecode_ms=summary(baseline_pyc), without_bytecode_ms=summary(baseline_cold),
                self_ms_by_package=importtime_by_package(
                    _run(BASELINE, base_warm, "-X", "importtime").stderr
                ),
            )  # fmt: skip
            b = out["baseline"]
            log(f"  {'baseline (boto3 + Logger)':30} import {b['with_bytecode_ms']['median']:6.0f} ms wall "
                f"{b['with_bytecode_ms']['cpu_median']:6.0f} ms CPU, {len(baseline_pyc)} runs")  # fmt: skip
    return out


def ratios(raw: dict[str, Any], key: str = "cpu_median") -> dict[str, float]:
    """Each handler's import (with bytecode) as a multiple of the baseline measured in the same run."""
    base = raw["baseline"]["with_bytecode_ms"][key]
    return {fn: row["with_bytecode_ms"][key] / base for fn, row in raw["functions"].items()}


def _baseline_spec() -> Any:
    """The Lambda environment of the baseline: a function with only the powertools variables."""
    from types import SimpleNamespace

    env = {k: v for k, v in function_specs()[0].environment.items() if k.startswith("POWERTOOLS_")}
    return SimpleNamespace(code_uri=SHARED, logical_id="BaselineImport", memory_mb=512, environment=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", nargs="*", help="logical ids of the functions to measure (default: all)")
    args = parser.parse_args(argv)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    result = measure(args.runs, log=log, only=set(args.only or ()))
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
