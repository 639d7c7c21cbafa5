"""The territory editor: one self-contained HTML page (inline SVG, CSS and script; no network; works from file://).

A manager picks a territory in the side panel, then clicks blocks (or holds Shift and draws a lasso around them)
to move them into it. Each territory's lead count, share, reps and leads per rep, and the balance score (the
coefficient of variation of leads per rep, or per territory without a roster) update at once; so do the number of
blocks moved and of leads that change territory. "Export block CSV" writes the file upload accepts
(``territory_id,territory_name,block_type,block_id``), downloads it and shows it in a text box.

Everything is computed here once (block outlines projected and simplified to about a pixel, leads per block,
the current alignment); the script only re-counts.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

import numpy as np
import shapely

from territory_router.domain.territory import Territory
from territory_router.territories.context import context_svg
from territory_router.territories.mapping import _Projection, _wrap_pacific, territory_colour
from territory_router_tools.design.balance import territory_blocks
from territory_router_tools.design.graph import build_graph
from territory_router_tools.design.leads import LeadHistory


def render_editor(
    territories: Sequence[Territory],
    *,
    history: LeadHistory | None = None,
    roster=None,
    blocks: str = "counties",
    within: Sequence[str] | None = None,
    title: str = "Territory editor",
) -> str:
    territories = sorted(territories, key=lambda t: t.territory_id)
    if within is None:
        # the states the set touches (any block whose inside point a territory covers)
        everything = build_graph(blocks)
        owners = territory_blocks(everything, territories)
        within = sorted({everything.states[n] for n in np.flatnonzero(owners >= 0)})
    graph = build_graph(blocks, within)
    if history is not None:
        graph.count_leads(history.lonlat, history.postal)
    else:
        graph.leads = np.zeros(len(graph.ids), dtype=np.int64)
    assignment = territory_blocks(graph, territories)
    # the frame is the largest land mass (the contiguous US); Alaska, Hawaii and islands are a zoom-out away
    main = [g for g, mass in zip(graph.geometries, graph.land_mass, strict=True) if mass == 0]
    proj = _Projection(main)
    proj.wrap = _wrap_pacific([p for g in graph.geometries for p in getattr(g, "geoms", [g])])
    allx0, ally0, allx1, ally1 = proj.box(shapely.MultiPolygon([p for g in graph.geometries for p in getattr(g, "geoms", [g])]))
    zoom_out = [min(0.0, allx0), min(0.0, ally0), max(proj.width, allx1) - min(0.0, allx0),
                max(proj.height, ally1) - min(0.0, ally0)]  # fmt: skip
    paths = []
    for n, geometry in enumerate(graph.geometries):
        x, y = proj.point(geometry)
        paths.append(
            f'<path class="block" data-n="{n}" data-id="{html.escape(graph.ids[n])}" data-x="{x:.1f}" '
            f'data-y="{y:.1f}" d="{proj.path(geometry)}"></path>'
        )
    reps: dict[str, dict] = {}
    if roster is not None:
        for t in territories:
            group = roster.group_for_territory(t.territory_id)
            if group is not None:
                active = sum(1 for m in group.members if m in roster.reps and roster.reps[m].active)
                reps[t.territory_id] = {"group": group.group_id, "reps": active}
    data = {
        "blockType": graph.kind,
        "blocks": [
            {"id": graph.ids[n], "label": graph.label(n), "leads": int(graph.leads[n])} for n in range(len(graph.ids))
        ],
        "territories": [
            {"id": t.territory_id, "name": t.name, "colour": territory_colour(i), **reps.get(t.territory_id, {})}
            for i, t in enumerate(territories)
        ],
        "assignment": assignment.tolist(),
        "fullView": [round(v, 1) for v in zoom_out],
        "hasLeads": history is not None,
        "hasRoster": roster is not None,
        "unplacedLeads": int(graph.unplaced_leads) if history is not None else 0,
    }
    esc = html.escape
    margin = 1.5 * max(proj.maxx - proj.minx, proj.maxy - proj.miny)  # context far enough for zooming out
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="map" viewBox="0 0 {proj.width:.0f} {proj.height:.0f}" '
        f'width="{proj.width:.0f}" height="{proj.height:.0f}">'
        f'<rect width="{proj.width:.0f}" height="{proj.height:.0f}" fill="#eef3f7"/>'
        + context_svg(proj, layers=("land",), margin=margin)
        + '<g id="blocks" stroke="#ffffff" stroke-width="0.5" fill-rule="evenodd">'
        + "".join(paths)
        + "</g>"
        + context_svg(proj, layers=("states", "labels"), margin=margin)
        + '<polyline id="lasso" fill="rgba(30,60,200,0.12)" stroke="#1e3cc8" stroke-dasharray="4 3" points=""/>'
        + "</svg>"
    )
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data: blob:\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{esc(title)}</h1><p id="help">Pick a territory on the right, then click blocks (or hold '
        "<b>Shift</b> and drag a lasso) to move them into it. Scroll to zoom, drag to pan, hover a block to see it."
        "</p></header>"
        f'<main><div id="mapbox">{svg}<div id="hover"></div></div>'
        '<aside><div id="score"></div><table id="table"><thead><tr><th></th><th>territory</th><th>leads</th>'
        "<th>share</th><th>reps</th><th>per rep</th><th>vs mean</th><th>blocks</th></tr></thead><tbody></tbody>"
        '</table><p id="changes"></p><button id="undo" type="button">Undo</button> '
        '<button id="export" type="button">Export block CSV</button>'
        '<textarea id="export-csv" readonly placeholder="the exported block CSV appears here"></textarea></aside></main>'
        f'<script id="data" type="application/json">{payload}</script>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )


CSS = """
body{font-family:system-ui,sans-serif;margin:12px;color:#1a1a1a}h1{font-size:19px;margin:0}
#help{margin:4px 0 8px;color:#444;font-size:13px}main{display:flex;gap:14px;align-items:flex-start}
#mapbox{position:relative;flex:1 1 auto}#map{border:1px solid #ccd;max-width:100%;height:auto;user-select:none;
background:#eef3f7}#map path{vector-effect:non-scaling-stroke}
.block{cursor:pointer}.block:hover{stroke:#111;stroke-width:1.2}
#hover{position:absolute;left:8px;top:8px;background:#fff;border:1px solid #ccd;padding:2px 6px;font-size:12px;
pointer-events:none}aside{flex:0 0 430px;font-size:13px}#score{font-size:15px;margin-bottom:6px}
#score b{font-size:22px}table{border-collapse:collapse;width:100%}td,th{padding:3px 5px;border-bottom:1px solid #eee;
text-align:right}td:nth-child(2),th:nth-child(2){text-align:left}tr.t{cursor:pointer}tr.sel{outline:2px solid #1e3cc8}
.sw{display:inline-block;width:14px;height:14px;border:1px solid #999}.hi{color:#b00000;font-weight:600}
.lo{color:#1e5fa8;font-weight:600}textarea{width:100%;height:120px;margin-top:8px;font-size:11px}
button{font-size:13px;padding:4px 10px;margin-top:8px}
"""

SCRIPT = r"""
(function () {
  const D = JSON.parse(document.getElementById('data').textContent);
  const blocks = D.blocks, T = D.territories;
  const original = D.assignment.slice();
  const assign = D.assignment.slice();
  const paths = Array.from(document.querySelectorAll('#blocks .block'));
  const undo = [];
  let selected = 0;
  const fill = (n) => { const t = assign[n]; paths[n].setAttribute('fill', t >= 0 ? T[t].colour : '#d8dadd'); };
  paths.forEach((p, n) => fill(n));

  function stats() {
    const leads = T.map(() => 0), count = T.map(() => 0);
    blocks.forEach((b, n) => { const t = assign[n]; if (t >= 0) { leads[t] += b.leads; count[t] += 1; } });
    const total = leads.reduce((a, b) => a + b, 0);
    let loads = [], perRep = T.map(() => null);
    if (D.hasRoster) {
      const groups = {};
      T.forEach((t, i) => { if (t.group) { (groups[t.group] = groups[t.group] || {reps: t.reps, leads: 0}).leads += leads[i]; } });
      T.forEach((t, i) => { if (t.group && t.reps) perRep[i] = groups[t.group].leads / t.reps; });
      Object.values(groups).forEach((g) => { for (let r = 0; r < g.reps; r++) loads.push(g.leads / g.reps); });
    } else {
      loads = leads.slice();
    }
    const mean = loads.length ? loads.reduce((a, b) => a + b, 0) / loads.length : 0;
    const sd = loads.length ? Math.sqrt(loads.reduce((a, b) => a + (b - mean) ** 2, 0) / loads.length) : 0;
    const cv = mean ? sd / mean : 0;
    let moved = 0, movedLeads = 0;
    assign.forEach((t, n) => { if (t !== original[n]) { moved += 1; movedLeads += blocks[n].leads; } });
    return {leads, count, total, perRep, mean, cv, moved, movedLeads};
  }

  function render() {
    const s = stats();
    document.getElementById('score').innerHTML =
      'balance score (CV of ' + (D.hasRoster ? 'leads per rep' : 'leads per territory') + '): <b id="cv">' +
      s.cv.toFixed(3) + '</b>' + (D.hasLeads ? '' : ' <i>(no leads given)</i>');
    const body = document.querySelector('#table tbody');
    body.innerHTML = '';
    T.forEach((t, i) => {
      const tr = document.createElement('tr');
      tr.className = 't' + (i === selected ? ' sel' : '');
      tr.dataset.territory = t.id;
      const load = D.hasRoster ? s.perRep[i] : s.leads[i];
      const vs = s.mean && load !== null ? load / s.mean : null;
      const cls = vs === null ? '' : vs > 1.1 ? 'hi' : vs < 0.9 ? 'lo' : '';
      const cells = ['<span class="sw" style="background:' + t.colour + '"></span>', esc(t.id + (t.name && t.name !== t.id ? ' ' + t.name : '')),
        s.leads[i].toLocaleString('en-US'), s.total ? (100 * s.leads[i] / s.total).toFixed(1) + '%' : '-',
        t.reps === undefined ? '-' : t.reps, s.perRep[i] === null ? '-' : s.perRep[i].toFixed(1),
        vs === null ? '-' : '<span class="' + cls + '">' + vs.toFixed(2) + '</span>', s.count[i]];
      tr.innerHTML = cells.map((c) => '<td>' + c + '</td>').join('');
      tr.addEventListener('click', () => { selected = i; render(); });
      body.appendChild(tr);
    });
    document.getElementById('changes').textContent = s.moved + ' block' + (s.moved === 1 ? '' : 's') +
      ' moved, ' + s.movedLeads.toLocaleString('en-US') + ' leads change territory' +
      (D.unplacedLeads ? '; ' + D.unplacedLeads + ' leads outside every block' : '');
  }
  function esc(text) { const d = document.createElement('div'); d.textContent = text; return d.innerHTML; }

  function move(nodes) {
    const changed = nodes.filter((n) => assign[n] !== selected);
    if (!changed.length) return;
    undo.push(changed.map((n) => [n, assign[n]]));
    changed.forEach((n) => { assign[n] = selected; fill(n); });
    render();
  }
  document.getElementById('undo').addEventListener('click', () => {
    const last = undo.pop();
    if (!last) return;
    last.forEach(([n, t]) => { assign[n] = t; fill(n); });
    render();
  });

  const svg = document.getElementById('map'), lasso = document.getElementById('lasso');
  const hover = document.getElementById('hover');
  function toSvg(ev) {
    const pt = svg.createSVGPoint(); pt.x = ev.clientX; pt.y = ev.clientY;
    return pt.matrixTransform(svg.getScreenCTM().inverse());
  }
  let drawing = null, panning = null, dragged = false;
  const full = {x: D.fullView[0], y: D.fullView[1], width: D.fullView[2], height: D.fullView[3]};
  const fb = svg.viewBox.baseVal;
  let view = [fb.x, fb.y, fb.width, fb.height];
  const setView = () => svg.setAttribute('viewBox', view.map((v) => v.toFixed(2)).join(' '));
  setView();
  svg.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const p = toSvg(ev), k = ev.deltaY < 0 ? 0.8 : 1.25;
    const w = Math.min(full.width, view[2] * k), h = Math.min(full.height, view[3] * k);
    view = [p.x - (p.x - view[0]) * (w / view[2]), p.y - (p.y - view[1]) * (h / view[3]), w, h];
    setView();
  }, {passive: false});
  svg.addEventListener('mousedown', (ev) => {
    ev.preventDefault();
    dragged = false;
    const p = toSvg(ev);
    if (ev.shiftKey) drawing = [[p.x, p.y]];
    else panning = {x: ev.clientX, y: ev.clientY, view: view.slice()};
  });
  svg.addEventListener('mousemove', (ev) => {
    const n = ev.target.dataset ? ev.target.dataset.n : undefined;
    if (n !== undefined) {
      const b = blocks[+n], t = assign[+n];
      hover.textContent = D.blockType + ' ' + b.id + ' ' + b.label + ': ' + b.leads + ' leads, ' + (t >= 0 ? T[t].id : 'no territory');
    }
    if (panning) {
      const dx = ev.clientX - panning.x, dy = ev.clientY - panning.y;
      if (Math.abs(dx) + Math.abs(dy) > 4) dragged = true;
      if (dragged) {
        const scale = panning.view[2] / svg.getBoundingClientRect().width;
        view = [panning.view[0] - dx * scale, panning.view[1] - dy * scale, panning.view[2], panning.view[3]];
        setView();
      }
      return;
    }
    if (!drawing) return;
    const p = toSvg(ev); drawing.push([p.x, p.y]);
    lasso.setAttribute('points', drawing.map((q) => q.join(',')).join(' '));
  });
  window.addEventListener('mouseup', () => {
    panning = null;
    if (!drawing) return;
    const poly = drawing; drawing = null; lasso.setAttribute('points', '');
    if (poly.length < 3) return;
    const inside = [];
    paths.forEach((p, n) => { if (pointIn(+p.dataset.x, +p.dataset.y, poly)) inside.push(n); });
    move(inside);
  });
  function pointIn(x, y, poly) {
    let c = false;
    for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
      const [xi, yi] = poly[i], [xj, yj] = poly[j];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
    }
    return c;
  }
  svg.addEventListener('click', (ev) => {
    if (ev.shiftKey || dragged) return;
    const n = ev.target.dataset ? ev.target.dataset.n : undefined;
    if (n !== undefined) move([+n]);
  });

  document.getElementById('export').addEventListener('click', () => {
    const rows = ['territory_id,territory_name,block_type,block_id'];
    const q = (v) => (/[",\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v);
    T.forEach((t, i) => {
      blocks.forEach((b, n) => { if (assign[n] === i) rows.push([q(t.id), q(t.name), D.blockType, b.id].join(',')); });
    });
    const text = rows.join('\n') + '\n';
    document.getElementById('export-csv').value = text;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], {type: 'text/csv'}));
    a.download = 'territories-blocks.csv';
    document.body.appendChild(a); a.click(); a.remove();
  });
  render();
})();
"""
