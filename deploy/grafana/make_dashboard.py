"""Write deploy/grafana/dashboards/localtypes.json (run after editing the panels here).

    python deploy/grafana/make_dashboard.py

The dashboard is generated so that its queries stay in one readable list; the container
test runs every query against a real Prometheus scraping the service.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'job=~"$job"'
ERRORS = 'status=~"4..|5.."'
SERVER_ERRORS = 'status=~"5.."'


def sel(extra: str = "") -> str:
    """The label selector of every query: the chosen job(s), plus ``extra``."""
    return "{" + SEL + (", " + extra if extra else "") + "}"


def rate(metric: str, extra: str = "", window: str = "$__rate_interval") -> str:
    return f"rate({metric}{sel(extra)}[{window}])"


def quantile(q: float, histogram: str) -> str:
    return f"histogram_quantile({q}, sum by (le) ({rate(histogram + '_bucket')}))"


# Each panel: title, unit, queries as (expr, legend), and optionally its type.
PANELS: List[Dict[str, Any]] = [
    {
        "title": "Requests per second by endpoint",
        "unit": "reqps",
        "targets": [(f"sum by (endpoint) ({rate('localtypes_requests_total')})", "{{endpoint}}")],
    },
    {
        "title": "Errors per second by status",
        "unit": "reqps",
        "targets": [
            (
                f"sum by (status) ({rate('localtypes_requests_total', ERRORS)})",
                "{{status}}",
            )
        ],
    },
    {
        "title": "Request latency (p50, p95, p99)",
        "unit": "s",
        "targets": [
            (quantile(q, "localtypes_request_duration_seconds"), f"p{round(q * 100)}")
            for q in (0.5, 0.95, 0.99)
        ],
    },
    {
        "title": "Inference time (p50, p95)",
        "unit": "s",
        "targets": [
            (quantile(q, "localtypes_inference_duration_seconds"), f"p{round(q * 100)}")
            for q in (0.5, 0.95)
        ],
    },
    {
        "title": "In-flight requests",
        "unit": "short",
        "targets": [(f"sum by (instance) (localtypes_in_flight_requests{sel()})", "{{instance}}")],
    },
    {
        "title": "Slots per request (mean)",
        "unit": "short",
        "targets": [
            (
                f"sum({rate('localtypes_slots_per_request_sum')})"
                f" / sum({rate('localtypes_slots_per_request_count')})",
                "slots",
            )
        ],
    },
    {
        "title": "Error ratio (5xx, last 5 minutes)",
        "unit": "percentunit",
        "type": "stat",
        "targets": [
            (
                f"sum({rate('localtypes_requests_total', SERVER_ERRORS, '5m')} or vector(0))"
                f" / clamp_min(sum({rate('localtypes_requests_total', window='5m')}), 1e-9)",
                "5xx",
            )
        ],
    },
    {
        "title": "Model version",
        "unit": "short",
        "type": "table",
        "targets": [(f"count by (name, version, sha256) (localtypes_model_info{sel()})", "")],
    },
    {
        "title": "Ready instances",
        "unit": "short",
        "type": "stat",
        "targets": [(f"sum(localtypes_ready{sel()})", "ready")],
    },
    {
        "title": "Waiting for the model (queue wait p95) and rejected requests",
        "unit": "s",
        "targets": [
            (quantile(0.95, "localtypes_queue_wait_seconds"), "queue wait p95"),
            (f"sum by (reason) ({rate('localtypes_rejected_total')})", "rejected/s {{reason}}"),
        ],
    },
    {
        "title": "Resident memory per instance",
        "unit": "bytes",
        "targets": [(f"process_resident_memory_bytes{sel()}", "{{instance}}")],
    },
    {
        "title": "CPU per instance (cores)",
        "unit": "short",
        "targets": [(rate("process_cpu_seconds_total"), "{{instance}}")],
    },
]


def panel(index: int, spec: Dict[str, Any]) -> Dict[str, Any]:
    kind = spec.get("type", "timeseries")
    width = 12
    x = (index % 2) * width
    y = (index // 2) * 8
    targets = [
        {
            "datasource": DS,
            "expr": expr,
            "legendFormat": legend,
            "refId": chr(ord("A") + n),
            **({"format": "table", "instant": True} if kind == "table" else {}),
        }
        for n, (expr, legend) in enumerate(spec["targets"])
    ]
    result: Dict[str, Any] = {
        "id": index + 1,
        "type": kind,
        "title": spec["title"],
        "datasource": DS,
        "gridPos": {"h": 8, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": spec["unit"]}, "overrides": []},
        "options": {},
        "targets": targets,
    }
    if kind == "table":
        result["transformations"] = [
            {"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True}}}
        ]
    return result


def dashboard() -> Dict[str, Any]:
    return {
        "uid": "localtypes",
        "title": "localtypes",
        "description": "The localtypes service: traffic, errors, latency, inference, model version",
        "tags": ["localtypes"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": "Prometheus", "value": "prometheus"},
                },
                {
                    "name": "job",
                    "label": "Job",
                    "type": "query",
                    "datasource": DS,
                    "query": {"query": "label_values(localtypes_model_info, job)", "refId": "job"},
                    "definition": "label_values(localtypes_model_info, job)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                    "refresh": 2,
                },
            ]
        },
        "panels": [panel(i, spec) for i, spec in enumerate(PANELS)],
    }


def main() -> None:
    out = Path(__file__).resolve().parent / "dashboards" / "localtypes.json"
    out.write_text(json.dumps(dashboard(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
