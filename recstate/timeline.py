"""A trace as a picture: one lane per session, its states as bands over time, its files as bars,
what it sent and what went wrong as marks, its timers as ticks.

Plain SVG written here rather than drawn with vega-lite (altair) or plotly: a self-contained
HTML page with either carries its whole JavaScript runtime (vega + vega-lite + vega-embed is
about 800 kB, plotly.js about 3.5 MB) for a picture made of rectangles on a time axis; the SVG
of a four-hour recording is a few kilobytes, opens without JavaScript (the ``.svg`` output),
is checked with ``xml.etree`` in the tests, and costs no dependency. The HTML page adds
thirty lines of script: a filter box, lanes that collapse, and a tooltip.

The picture is drawn from a watched replay (:mod:`recstate.observe`), so any trace works,
an input-only one as well as a full one.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Final

import attrs

from recstate.machine import Machine
from recstate.observe import Observation, all_machines
from recstate.replay import Report, format_report

__all__ = ["FILE_COLOURS", "Lane", "Timeline", "build", "render_html", "render_svg"]

#: Files by status: distinct hues, and the ones that need attention are the loud ones.
FILE_COLOURS: Final = {"expected": "#bdbdbd", "open": "#4e79a7", "closed": "#f28e2b",
                       "ready": "#59a14f", "lost": "#8c3ba0", "failed": "#e15759"}
#: States by their canonical recording state; a state with none takes a neutral tint.
STATE_COLOURS: Final = {"idle": "#ececec", "starting": "#fbe7a1", "recording": "#bfe5b4",
                        "stopping": "#fcd2a5", "stopped": "#cdd9ea", "failed": "#f6b8b8"}
OTHER_STATES: Final = ("#e4dcf0", "#d9ecec", "#f0e0d2", "#e0e8d0", "#f2dce6", "#dde3f0")
MARK_COLOURS: Final = {"command": "#1f5fa8", "notice": "#e08a00", "error": "#d62728",
                       "violation": "#b00020", "timer": "#444444", "layout": "#138d90"}
#: The marks every trace has; any other kind is a vendor's moment (``Machine.moments``).
BASE_KINDS: Final = frozenset({"command", "notice", "error", "violation", "timer"})
#: A moment of a kind this module does not know (a vendor's ``Machine.moments``).
OTHER_MARK: Final = "#7f7f7f"

WIDTH: Final = 1240
LABEL_W: Final = 230
RIGHT: Final = 16
BAND_Y: Final = 4
BAND_H: Final = 18
ROW_H: Final = 12
ROW_GAP: Final = 3
MARK_H: Final = 14
COLLAPSED_H: Final = BAND_Y + BAND_H + 2
POINT_W: Final = 6.0  # a file whose times are unknown: a short dashed bar where it appeared


@attrs.define
class Band:
    state: str
    start: float
    end: float
    colour: str


@attrs.define
class Bar:
    id: str
    status: str
    kind: str
    format: str
    participant: str | None
    start: float | None
    end: float | None
    size: int | None
    url: str | None
    #: Where to draw it: the file's own times, else when the replay heard of it.
    x0: float
    x1: float
    row: int = 0

    @property
    def approximate(self) -> bool:
        return self.start is None or (self.end is None and self.status != "open")


@attrs.define
class Mark:
    t: float
    kind: str  # command | notice | error | violation | timer | layout | a vendor's moment
    name: str
    text: str


@attrs.define
class Lane:
    session: str
    vendor: str
    machine: str
    state: str
    recording: str
    bands: list[Band] = attrs.field(factory=list)
    bars: list[Bar] = attrs.field(factory=list)
    marks: list[Mark] = attrs.field(factory=list)

    @property
    def rows(self) -> int:
        return 1 + max((b.row for b in self.bars), default=-1)

    @property
    def height(self) -> int:
        return BAND_Y + BAND_H + 6 + self.rows * (ROW_H + ROW_GAP) + MARK_H + 8


@attrs.define
class Timeline:
    title: str
    start: float
    end: float
    lanes: list[Lane]
    report: Report

    def x(self, t: float) -> float:
        span = max(self.end - self.start, 1.0)
        return LABEL_W + (t - self.start) / span * (WIDTH - LABEL_W - RIGHT)


# ---- the model -----------------------------------------------------------------------------------
def _state_colour(cls: type[Machine] | None, state: str) -> str:
    if cls is None:
        return OTHER_STATES[0]
    canonical = cls.recording_states.get(state)
    if canonical is not None:
        return STATE_COLOURS[canonical]
    names = cls.state_names()
    return OTHER_STATES[(names.index(state) if state in names else 0) % len(OTHER_STATES)]


def _pack(bars: list[Bar], point: float) -> None:
    """Give each bar the first row where it overlaps nothing (files of several participants,
    or a file of each kind, run side by side). ``point``: the time a bar of unknown times
    takes on the axis."""
    ends: list[float] = []
    for bar in sorted(bars, key=lambda b: (b.x0, b.x1)):
        x1 = bar.x0 + point if bar.approximate else bar.x1
        for row, end in enumerate(ends):
            if bar.x0 >= end:
                bar.row, ends[row] = row, x1
                break
        else:
            bar.row = len(ends)
            ends.append(x1)


def _natural(key: str) -> list[tuple[int, int | str]]:
    """``15000:9:bob`` before ``15000:10:al``: numbers in a key compare as numbers."""
    return [(0, int(part)) if part.isdigit() else (1, part)
            for part in re.split(r"(\d+)", key) if part]


def build(obs: Observation, *, title: str = "", sessions: Sequence[str] | None = None
          ) -> Timeline:
    """The timeline of a watched replay, a lane per session in the natural order of their
    keys; ``sessions`` keeps only those (in that order)."""
    report = obs.report
    times = [r.t for r in obs.records]
    start = min(times) if times else 0.0
    end = max(times) if times else 0.0
    if obs.runtime is not None:
        end = max(end, obs.runtime.clock.now())
    machines = all_machines()
    first: dict[str, float] = {}
    moves: dict[str, list[tuple[float, str]]] = {}
    for record in obs.records:
        if record.session is None:
            continue
        first.setdefault(record.session, record.t)
        if record.kind == "transition" and record.data is not None:
            moves.setdefault(record.session, []).append((record.t, str(record.data["dst"])))
    ticks: dict[str, list[Mark]] = {}
    for taken in obs.taken:
        if taken.timer:
            ticks.setdefault(taken.session, []).append(Mark(
                taken.t, "timer", taken.trigger,
                f"timer {taken.trigger} ({taken.src} → {taken.dst})"))
    wanted = list(sessions) if sessions is not None else None
    by_key = {s["session"]: s for s in report.sessions}
    unknown = [k for k in wanted or () if k not in by_key]
    if unknown:
        known = sorted(by_key)
        raise ValueError(f"no session {', '.join(map(repr, unknown))} in the trace; it has "
                         f"{', '.join(known[:10])}{' ...' if len(known) > 10 else ''}")
    lanes = []
    for key in wanted if wanted is not None else sorted(by_key, key=_natural):
        s = by_key[key]
        cls = machines.get(s["machine"])
        lane = Lane(key, s["vendor"], s["machine"], s["state"], s["recording"])
        state, since = (cls.initial if cls is not None else "?"), first.get(key, start)
        for t, dst in moves.get(key, []):
            lane.bands.append(Band(state, since, t, _state_colour(cls, state)))
            state, since = dst, t
        lane.bands.append(Band(state, since, end, _state_colour(cls, state)))
        lane.bands = [b for b in lane.bands if b.end > b.start] or lane.bands[-1:]
        for seen in obs.files.get(key, []):
            f = seen.file
            x0 = f.start if f.start is not None else seen.first
            x1 = f.end if f.end is not None else (end if f.status == "open" else x0)
            lane.bars.append(Bar(f.id, f.status, f.kind, f.format, f.participant, f.start,
                                 f.end, f.size, f.url, x0, max(x1, x0)))
        _pack(lane.bars, (POINT_W + 2) * max(end - start, 1.0) / (WIDTH - LABEL_W - RIGHT))
        for c in s["commands"]:
            lane.marks.append(Mark(c["t"], "command", c["name"], f"command {c['name']}"))
        for e in s["errors"]:
            kind = "error" if e["level"] == "error" else "notice"
            lane.marks.append(Mark(e["t"], kind, str(e["code"]),
                                   f"{e['level']} {e['code']}: {e['message']}"))
        for v in s["violations"]:
            where = f" (line {v['line']})" if v["line"] is not None else ""
            lane.marks.append(Mark(v["t"], "violation", v["name"],
                                   f"violation{where}: {v['name']} in {v['state']}: "
                                   f"{v['reason']}"))
        lane.marks += ticks.get(key, [])
        session = obs.runtime.sessions.get(key) if obs.runtime is not None else None
        if session is not None:
            lane.marks += [Mark(m.t, m.kind, m.name, m.text)
                           for m in session.machine.moments(session)]
        lane.marks.sort(key=lambda m: m.t)
        lanes.append(lane)
    return Timeline(title, start, end, lanes, report)


# ---- drawing -------------------------------------------------------------------------------------
def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _when(t: float | None, fmt: str = "%Y-%m-%d %H:%M:%SZ") -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime(fmt)


def _span(seconds: float) -> str:
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


_STEPS: Final = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                 43200, 86400, 172800, 604800)


def _ticks(start: float, end: float) -> tuple[list[float], str]:
    span = max(end - start, 1.0)
    step = next((s for s in _STEPS if span / s <= 10), _STEPS[-1])
    fmt = "%H:%M:%S" if step < 60 else ("%m-%d" if step >= 86400 else "%H:%M")
    first = math.ceil(start / step) * step
    return [first + i * step for i in range(int((end - first) // step) + 1)], fmt


def _bar_tip(bar: Bar) -> str:
    lines = [f"file {bar.id}", f"status {bar.status}, {bar.kind} {bar.format}"
             + (f", {bar.participant}" if bar.participant else ", mix"),
             f"{_when(bar.start)} → {_when(bar.end)}"
             + (f" ({_span(bar.end - bar.start)})"
                if bar.start is not None and bar.end is not None else ""),
             f"size {bar.size if bar.size is not None else '-'}",
             f"url {bar.url or '-'}"]
    return "\n".join(lines)


def _tip(text: str) -> str:
    return f' data-tip="{_e(text)}"><title>{_e(text)}</title>'


def _mark(tl: Timeline, mark: Mark, y: float) -> str:
    x = tl.x(mark.t)
    colour = MARK_COLOURS.get(mark.kind, OTHER_MARK)
    tip = _tip(f"{_when(mark.t)}  {mark.text}")
    cls = f'class="mark mark-{mark.kind}" data-name="{_e(mark.name)}"'
    if mark.kind == "command":
        return (f'<path {cls} d="M{x - 4:.1f},{y:.1f}h8l-4,7z" fill="{colour}"{tip}</path>')
    if mark.kind == "timer":
        return (f'<rect {cls} x="{x - 1:.1f}" y="{y - 2:.1f}" width="2" height="12" '
                f'fill="{colour}"{tip}</rect>')
    if mark.kind == "violation":
        return (f'<path {cls} d="M{x - 4:.1f},{y:.1f}l8,8m0,-8l-8,8" stroke="{colour}" '
                f'stroke-width="2.5" fill="none"{tip}</path>')
    if mark.kind not in ("notice", "error"):  # a layout, or another vendor moment: a diamond
        return (f'<path {cls} d="M{x:.1f},{y - 1:.1f}l5,5l-5,5l-5,-5z" fill="{colour}" '
                f'stroke="#ffffff" stroke-width="0.5"{tip}</path>')
    return (f'<circle {cls} cx="{x:.1f}" cy="{y + 4:.1f}" r="4" fill="{colour}"{tip}'
            '</circle>')


def _lane(tl: Timeline, lane: Lane, gridlines: Iterable[float]) -> str:
    """A lane's drawing at y = 0 (its height is ``lane.height``)."""
    h = lane.height
    out = [f'<g class="lane" data-session="{_e(lane.session)}" data-machine="{_e(lane.machine)}"'
           f' data-state="{_e(lane.state)}">',
           f'<rect class="lane-bg" x="0" y="0" width="{WIDTH}" height="{h}" fill="#ffffff"/>']
    out += [f'<line class="grid" x1="{tl.x(t):.1f}" x2="{tl.x(t):.1f}" y1="0" y2="{h}" '
            'stroke="#eeeeee"/>' for t in gridlines]
    label = lane.session if len(lane.session) <= 30 else lane.session[:29] + "…"
    out.append(f'<text class="lane-label" x="6" y="{BAND_Y + 13}" font-weight="bold"'
               f'{_tip(lane.session)}{_e(label)}</text>')
    out.append(f'<text class="lane-sub" x="6" y="{BAND_Y + 32}" fill="#555555" '
               f'font-size="10">{_e(lane.machine)} · {_e(lane.state)}</text>')
    out.append('<g class="bands">')
    for band in lane.bands:
        x0, x1 = tl.x(band.start), tl.x(band.end)
        w = max(x1 - x0, 1.0)
        tip = _tip(f"{band.state}: {_when(band.start)} → {_when(band.end)} "
                   f"({_span(band.end - band.start)})")
        out.append(f'<rect class="band" data-state="{_e(band.state)}" x="{x0:.1f}" '
                   f'y="{BAND_Y}" width="{w:.1f}" height="{BAND_H}" fill="{band.colour}" '
                   f'stroke="#ffffff" stroke-width="0.5"{tip}</rect>')
        if w > 7 * len(band.state) + 6:
            out.append(f'<text class="band-label" x="{x0 + 4:.1f}" y="{BAND_Y + 13}" '
                       f'font-size="11" fill="#333333" pointer-events="none">'
                       f'{_e(band.state)}</text>')
    # What a collapsed lane still shows: its files as a strip along the band's foot, and a
    # red tick where something went wrong.
    out.append('</g><g class="strip">')
    for bar in lane.bars:
        x0 = tl.x(bar.x0)
        w = max(tl.x(bar.x1) - x0, 2.0) if not bar.approximate else POINT_W
        out.append(f'<rect x="{x0:.1f}" y="{BAND_Y + BAND_H - 4}" width="{w:.1f}" height="4" '
                   f'fill="{FILE_COLOURS.get(bar.status, "#999999")}" pointer-events="none"/>')
    for mark in lane.marks:
        if mark.kind in ("error", "violation"):
            out.append(f'<rect class="alert" x="{tl.x(mark.t) - 1:.1f}" y="{BAND_Y}" width="2" '
                       f'height="{BAND_H}" fill="{MARK_COLOURS[mark.kind]}" '
                       'pointer-events="none"/>')
    # A vendor's moments (CloudRoom's layout changes) sit on the band: they change what the
    # session records, and a collapsed lane still shows them.
    out.append('</g><g class="moments">')
    out += [_mark(tl, mark, BAND_Y + 4) for mark in lane.marks if mark.kind not in BASE_KINDS]
    out.append('</g><g class="files">')
    top = BAND_Y + BAND_H + 6
    for bar in lane.bars:
        x0 = tl.x(bar.x0)
        w = max(tl.x(bar.x1) - x0, 2.0) if not bar.approximate else POINT_W
        y = top + bar.row * (ROW_H + ROW_GAP)
        dash = ' stroke-dasharray="2,2" stroke="#333333"' if bar.approximate else (
            ' stroke="#ffffff" stroke-width="0.5"')
        out.append(f'<rect class="file file-{_e(bar.status)}" data-file-id="{_e(bar.id)}" '
                   f'data-status="{_e(bar.status)}" x="{x0:.1f}" y="{y}" width="{w:.1f}" '
                   f'height="{ROW_H}" rx="2" fill="{FILE_COLOURS.get(bar.status, "#999999")}"'
                   f'{dash}{_tip(_bar_tip(bar))}</rect>')
    out.append('</g><g class="marks">')
    ym = top + lane.rows * (ROW_H + ROW_GAP) + 2
    out += [_mark(tl, mark, ym) for mark in lane.marks if mark.kind in BASE_KINDS]
    out.append(f'</g><line x1="0" x2="{WIDTH}" y1="{h - 0.5}" y2="{h - 0.5}" '
               'stroke="#dddddd"/></g>')
    return "".join(out)


def _axis(tl: Timeline, ticks: list[float], fmt: str) -> tuple[str, int]:
    out = ['<g class="axis">']
    for t in ticks:
        x = tl.x(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="14" y2="20" stroke="#777777"/>'
                   f'<text x="{x:.1f}" y="11" font-size="10" text-anchor="middle" '
                   f'fill="#444444">{_when(t, fmt)}</text>')
    out.append(f'<line x1="{LABEL_W}" x2="{WIDTH - RIGHT}" y1="20" y2="20" stroke="#777777"/>'
               f'<text x="6" y="14" font-size="10" fill="#444444">UTC, from '
               f'{_when(tl.start)}</text></g>')
    return "".join(out), 24


def _legend() -> tuple[str, int]:
    out, x = ['<g class="legend" font-size="11">'], 6.0
    out.append(f'<text x="{x}" y="13" fill="#444444">files:</text>')
    x += 38
    for status, colour in FILE_COLOURS.items():
        out.append(f'<rect x="{x}" y="4" width="14" height="11" rx="2" fill="{colour}"/>'
                   f'<text x="{x + 18}" y="13">{status}</text>')
        x += 26 + 7 * len(status)
    x += 14
    out.append(f'<text x="{x}" y="13" fill="#444444">marks:</text>')
    x += 44
    for kind in MARK_COLOURS:
        out.append(_mark_swatch(kind, x) + f'<text x="{x + 12}" y="13">{kind}</text>')
        x += 22 + 7 * len(kind)
    out.append('</g>')
    return "".join(out), 22


def _mark_swatch(kind: str, x: float) -> str:
    c = MARK_COLOURS[kind]
    if kind == "layout":
        return f'<path d="M{x + 4},4l5,5l-5,5l-5,-5z" fill="{c}"/>'
    if kind == "command":
        return f'<path d="M{x},5h8l-4,7z" fill="{c}"/>'
    if kind == "timer":
        return f'<rect x="{x + 3}" y="3" width="2" height="12" fill="{c}"/>'
    if kind == "violation":
        return f'<path d="M{x},5l8,8m0,-8l-8,8" stroke="{c}" stroke-width="2.5"/>'
    return f'<circle cx="{x + 4}" cy="9" r="4" fill="{c}"/>'


_FONT: Final = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12"'


def render_svg(tl: Timeline) -> str:
    """One SVG: legend, time axis, then every lane (the standalone picture)."""
    ticks, fmt = _ticks(tl.start, tl.end)
    legend, lh = _legend()
    axis, ah = _axis(tl, ticks, fmt)
    parts, y = [], lh + ah
    for lane in tl.lanes:
        parts.append(f'<g transform="translate(0,{y})">{_lane(tl, lane, ticks)}</g>')
        y += lane.height
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="recstate-timeline" '
            f'width="{WIDTH}" height="{y + 4}" viewBox="0 0 {WIDTH} {y + 4}" {_FONT}>'
            f'<title>{_e(tl.title or "recstate timeline")}</title>'
            f'<rect width="100%" height="100%" fill="#ffffff"/>{legend}'
            f'<g transform="translate(0,{lh})">{axis}</g>{"".join(parts)}</svg>\n')


_CSS: Final = """
body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:16px;color:#222;background:#fff}
h1{font-size:18px;margin:0 0 6px} .summary{margin:0 0 10px;color:#444}
.controls{position:sticky;top:0;background:#fff;padding:6px 0;z-index:2}
.controls input{width:320px;padding:4px 6px;font-size:13px}
.controls button{font-size:13px;margin-left:8px} #count{margin-left:10px;color:#555}
.timeline{overflow-x:auto}
.lane{cursor:pointer} .lane svg{display:block}
.lane.collapsed svg{height:COLLAPSEDpx} .lane.hidden{display:none}
#tip{position:fixed;display:none;background:#222;color:#fff;padding:6px 8px;font-size:12px;
white-space:pre-wrap;border-radius:4px;pointer-events:none;z-index:3;max-width:720px}
pre.report{background:#f7f7f7;padding:10px;overflow-x:auto;font-size:12px}
""".replace("COLLAPSED", str(COLLAPSED_H))

_SCRIPT: Final = """
(function(){
  var lanes=[].slice.call(document.querySelectorAll('div.lane'));
  var filter=document.getElementById('filter'), count=document.getElementById('count');
  function show(){
    var q=filter.value.trim().toLowerCase(), n=0;
    lanes.forEach(function(l){
      var hit=!q||l.getAttribute('data-search').indexOf(q)>=0;
      l.classList.toggle('hidden',!hit); if(hit){n++;}
    });
    count.textContent=n+' of '+lanes.length+' sessions';
  }
  filter.addEventListener('input',show);
  lanes.forEach(function(l){l.addEventListener('click',function(){
    l.classList.toggle('collapsed');});});
  var all=document.getElementById('collapse');
  all.addEventListener('click',function(){
    var c=all.textContent.indexOf('collapse')===0;
    lanes.forEach(function(l){l.classList.toggle('collapsed',c);});
    all.textContent=c?'expand all':'collapse all';
  });
  var tip=document.getElementById('tip');
  document.addEventListener('mouseover',function(e){
    var t=e.target.closest?e.target.closest('[data-tip]'):null;
    if(!t){tip.style.display='none';return;}
    tip.textContent=t.getAttribute('data-tip'); tip.style.display='block';
  });
  document.addEventListener('mousemove',function(e){
    var x=e.clientX+14, y=e.clientY+14;
    if(x+tip.offsetWidth>window.innerWidth){x=Math.max(0,e.clientX-14-tip.offsetWidth);}
    if(y+tip.offsetHeight>window.innerHeight){y=Math.max(0,e.clientY-14-tip.offsetHeight);}
    tip.style.left=x+'px'; tip.style.top=y+'px';});
  show();
})();
"""

#: Lanes start collapsed above this many sessions.
COLLAPSE_ABOVE: Final = 20


def render_html(tl: Timeline, *, with_report: bool = False) -> str:
    """One self-contained page (no network at view time): a filter box, the legend, the
    axis, one lane per session (click to collapse or expand), and with ``with_report``
    the replay's report below it."""
    ticks, fmt = _ticks(tl.start, tl.end)
    legend, lh = _legend()
    axis, ah = _axis(tl, ticks, fmt)
    collapsed = len(tl.lanes) > COLLAPSE_ABOVE

    def svg(body: str, h: int) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{h}" '
                f'{_FONT}>{body}</svg>')

    lanes = []
    for lane in tl.lanes:
        search = " ".join((lane.session, lane.machine, lane.state, lane.recording)).lower()
        lanes.append(f'<div class="lane{" collapsed" if collapsed else ""}" '
                     f'data-session="{_e(lane.session)}" data-search="{_e(search)}">'
                     f'{svg(_lane(tl, lane, ticks), lane.height)}</div>')
    r = tl.report
    summary = (f"{len(tl.lanes)} sessions shown of {len(r.sessions)}, {r.events} events, "
               f"{r.violations} violations, {len(r.mismatches)} mismatches; "
               f"{_when(tl.start)} → {_when(tl.end)} ({_span(tl.end - tl.start)})")
    report = (f'<h2>Report</h2><pre class="report">{_e(format_report(r))}</pre>'
              if with_report else "")
    title = tl.title or "recstate timeline"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{_e(title)}</h1><p class=\"summary\">{_e(summary)}</p>"
            '<div class="controls"><input id="filter" type="search" '
            'placeholder="filter sessions: key, machine or state" aria-label="filter">'
            f'<button id="collapse" type="button">{"expand" if collapsed else "collapse"} '
            'all</button><span id="count"></span></div>'
            f'<div class="legend">{svg(legend, lh)}</div><div class="timeline">'
            f'<div class="axis">{svg(axis, ah)}</div>{"".join(lanes)}</div>'
            f'<div id="tip"></div>{report}<script>{_SCRIPT}</script></body></html>\n')
