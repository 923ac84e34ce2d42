"""``reports/index.html``: the runs, newest first, with links and each report's headline numbers."""
from __future__ import annotations

import html
import json
from pathlib import Path


def write_index(out: Path) -> Path:
    from .run import runs

    rows = []
    for run in runs(out):
        manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        items = []
        for nb, info in manifest.get("notebooks", {}).items():
            if info.get("status") == "left out":  # the layout cannot answer it: the reason instead of a link
                items.append(f'<li>{html.escape(nb)} <span class="head">{html.escape(str(info.get("reason")))}</span></li>')
                continue
            link = f"{run.name}/{nb}/{nb}.html"
            head = ""
            metrics = run / nb / "metrics.json"
            if metrics.is_file():
                data = json.loads(metrics.read_text(encoding="utf-8"))
                head = "; ".join(f"{html.escape(str(h['label']))}: {html.escape(str(h['value']))}"
                                 for h in data.get("headline", []))
            items.append(f'<li><a href="{html.escape(link)}">{html.escape(nb)}</a>'
                         + (f' <span class="head">{head}</span>' if head else "") + "</li>")
        rows.append(
            f"<section><h2>{html.escape(run.name)}</h2><p class=meta>as of {html.escape(str(manifest.get('as_of')))} · "
            f"data {html.escape(str(manifest.get('data_fingerprint')))} · {html.escape(str(manifest.get('status')))}</p>"
            f"<ul>{''.join(items)}</ul></section>"
        )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>csanalysis reports</title>
<style>body{{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;}}.meta,.head{{color:#555;font-size:.9em}}</style>
</head><body><h1>Customer-success reports</h1>
{''.join(rows) or '<p>No runs yet.</p>'}
</body></html>
"""
    path = out / "index.html"
    tmp = out / ".index.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
