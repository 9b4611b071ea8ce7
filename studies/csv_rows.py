"""Result rows as CSV text: one column per key seen in any row, nested values as JSON."""

from __future__ import annotations

import csv
import io
import json


def to_csv(rows: list[dict]) -> str:
    """CSV of `rows` (columns in first-seen order; dicts and lists written as JSON, not repr)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
    w.writeheader()
    w.writerows({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in r.items()}
                for r in rows)
    return buf.getvalue()
