"""Rendering the report model as one self-contained HTML page: inline CSS and SVG, no script, no network. Pure.

Every text from the model is escaped here; chart markup arrives escaped from ``charts``.
"""

from __future__ import annotations

from stm.report.charts import esc
from stm.report.model import Badge, Cell, Kpi, Report, Section, Table

CSS = """
:root { --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --card:#fff; --bg:#f1f5f9; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
header { background:#0f172a; color:#f8fafc; padding:20px 32px; }
header h1 { margin:0; font-size:22px; font-weight:650; letter-spacing:-0.01em; }
header .meta { color:#cbd5e1; margin-top:4px; font-size:13px; }
main { max-width:1400px; margin:0 auto; padding:20px 24px 48px; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit,minmax(180px,1fr)); gap:12px; margin-bottom:18px; }
.kpi { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px;
  border-top:4px solid #94a3b8; }
.kpi.good { border-top-color:#10b981; } .kpi.warn { border-top-color:#f59e0b; } .kpi.bad { border-top-color:#ef4444; }
.kpi .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.kpi .value { font-size:26px; font-weight:650; margin:2px 0; font-variant-numeric:tabular-nums; }
.kpi .detail { color:var(--muted); font-size:12.5px; }
nav { display:flex; flex-wrap:wrap; gap:6px 14px; margin:0 0 16px; font-size:13px; }
nav a { color:var(--accent); text-decoration:none; } nav a:hover { text-decoration:underline; }
.grid { display:grid; grid-template-columns:repeat(2,minmax(0,1fr)); gap:16px; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:16px 20px;
  grid-column:1 / -1; min-width:0; }
section.half { grid-column:auto; }
@media (max-width: 1000px) { section.half { grid-column:1 / -1; } }
h2 { margin:0 0 2px; font-size:17px; font-weight:650; }
.desc { color:var(--muted); margin:0 0 12px; font-size:13px; }
h3 { font-size:13px; font-weight:600; color:#334155; margin:14px 0 6px; }
svg.chart { width:100%; height:auto; display:block; }
.legend { display:flex; flex-wrap:wrap; gap:4px 14px; font-size:12.5px; color:#334155; margin:4px 0 8px; }
.legend-item { display:inline-flex; align-items:center; gap:6px; }
.swatch { width:11px; height:11px; border-radius:2px; display:inline-block; }
.table-wrap { overflow-x:auto; margin-top:10px; }
table { border-collapse:collapse; width:100%; font-size:13px; font-variant-numeric:tabular-nums; }
caption { text-align:left; font-weight:600; color:#334155; padding:6px 0; }
th { text-align:left; color:var(--muted); font-weight:600; border-bottom:2px solid var(--line); padding:6px 8px;
  white-space:nowrap; }
td { border-bottom:1px solid var(--line); padding:5px 8px; overflow-wrap:anywhere; }
th.num, td.num { text-align:right; white-space:nowrap; }
tbody tr:last-child td { border-bottom:none; }
tfoot td { border-top:2px solid var(--line); font-weight:650; }
tbody tr:hover { background:#f8fafc; }
details summary { cursor:pointer; color:var(--accent); font-size:13px; margin-top:10px; }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; font-weight:600;
  background:#e2e8f0; color:#334155; white-space:nowrap; }
.badge.good { background:#d1fae5; color:#065f46; } .badge.warn { background:#fef3c7; color:#92400e; }
.badge.bad { background:#fee2e2; color:#991b1b; }
.missing { background:#fff7ed; border:1px dashed #fdba74; color:#9a3412; border-radius:8px; padding:10px 12px;
  margin:6px 0; font-size:13px; }
.note { color:var(--muted); font-size:12.5px; margin:8px 0 0; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:18px; }
"""


def render_html(report: Report) -> str:
    """The complete HTML document for ``report``."""
    period = (
        f"{report.period_start:%b %d, %Y} to {report.period_end:%b %d, %Y}"
        if report.period_start and report.period_end
        else "no usage data"
    )
    nav = "".join(f'<a href="#{esc(s.key)}">{esc(s.title)}</a>' for s in report.sections)
    sections = "".join(render_section(s) for s in report.sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(report.title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(report.title)}</h1>"
        f'<div class="meta">{esc(period)} &middot; source: {esc(report.source)} &middot; '
        f"generated {report.generated_at:%Y-%m-%d %H:%M} UTC &middot; list prices in USD</div></header>"
        f'<main><div class="kpis">{"".join(render_kpi(k) for k in report.kpis)}</div>'
        f'<nav>{nav}</nav><div class="grid">{sections}</div></main>'
        "<footer>system-tables-monitor &middot; costs are list-price estimates; billing corrections are netted"
        "</footer></body></html>\n"
    )


def render_kpi(kpi: Kpi) -> str:
    return (
        f'<div class="kpi {esc(kpi.tone)}"><div class="label">{esc(kpi.label)}</div>'
        f'<div class="value">{esc(kpi.value)}</div><div class="detail">{esc(kpi.detail)}</div></div>'
    )


def render_section(section: Section) -> str:
    parts = [f"<h2>{esc(section.title)}</h2>", f'<p class="desc">{esc(section.description)}</p>']
    parts.extend(f'<div class="missing">{esc(m)}</div>' for m in section.missing)
    for chart in section.charts:
        if chart.title:
            parts.append(f"<h3>{esc(chart.title)}</h3>")
        parts.append(chart.legend + chart.svg)
    parts.extend(render_table(t) for t in section.tables)
    parts.extend(f'<p class="note">{esc(n)}</p>' for n in section.notes)
    css = ' class="half"' if section.half else ""
    return f'<section id="{esc(section.key)}"{css}>{"".join(parts)}</section>'


def render_cell(cell: Cell, numeric: bool) -> str:
    css = ' class="num"' if numeric else ""
    if isinstance(cell, Badge):
        return f'<td{css}><span class="badge {esc(cell.tone)}">{esc(cell.text)}</span></td>'
    return f"<td{css}>{esc(cell)}</td>"


def render_table(table: Table) -> str:
    head = "".join(
        f"<th{' class=num' if i in table.numeric else ''}>{esc(h)}</th>" for i, h in enumerate(table.headers)
    )
    rows = [
        "<tr>" + "".join(render_cell(c, i in table.numeric) for i, c in enumerate(row)) + "</tr>" for row in table.rows
    ]
    foot = f"<tfoot>{rows.pop()}</tfoot>" if table.total_row and rows else ""
    body = "".join(rows) or f'<tr><td colspan="{len(table.headers)}">no rows</td></tr>'
    caption = f"<caption>{esc(table.caption)}</caption>" if table.caption and not table.collapsed else ""
    inner = f"{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}"
    html = f'<div class="table-wrap"><table>{inner}</table></div>'
    if table.collapsed:
        return f"<details><summary>{esc(table.caption or 'Details')}</summary>{html}</details>"
    return html
