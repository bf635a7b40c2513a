// The timeline chart: the three probabilities over the case's own time as inline SVG, drawn
// from scratch on every change (a few thousand elements at most: simple, and fast enough).

import {
  OUTCOMES,
  OUTCOME_LABELS,
  TIME,
  interval,
  percent,
  reportValue,
  utcClock,
  utcDate,
  utcDateTime,
  utcDayMonth,
  utcMonth,
} from "./format.js";

const SVG = "http://www.w3.org/2000/svg";

// Lines differ by dash pattern as well as colour, so the chart reads in grey or to a
// colour-blind eye; the legend repeats each pattern beside its label.
export const DASHES = { no_entry: "", false_flag: "10 5", direct_invasion: "3 4" };

const MARGIN = { top: 12, right: 18, bottom: 64, left: 58 };
const LANE_OFFSET = 14; // report markers, just under the time axis
const TICK_LABEL_OFFSET = 40;

const FIXED_STEPS = [
  TIME.MINUTE,
  2 * TIME.MINUTE,
  5 * TIME.MINUTE,
  10 * TIME.MINUTE,
  15 * TIME.MINUTE,
  30 * TIME.MINUTE,
  TIME.HOUR,
  2 * TIME.HOUR,
  3 * TIME.HOUR,
  6 * TIME.HOUR,
  12 * TIME.HOUR,
  TIME.DAY,
  2 * TIME.DAY,
  7 * TIME.DAY,
  14 * TIME.DAY,
];
const MONTH_STEPS = [1, 2, 3, 6, 12, 24];

function el(name, attributes = {}, text = "") {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text) node.textContent = text;
  return node;
}

function titled(node, text) {
  node.append(el("title", {}, text));
  return node;
}

/** Ticks for a UTC time axis: at most `count`, on round minutes, hours, days or months. */
export function timeTicks(t0, t1, count) {
  const span = t1 - t0;
  const step = FIXED_STEPS.find((s) => span / s <= count);
  if (step !== undefined) {
    const ticks = [];
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ticks.push(t);
    return labelled(ticks, step < TIME.DAY ? "clock" : "day");
  }
  const months = MONTH_STEPS.find((m) => span / (m * 30 * TIME.DAY) <= count) ?? 60;
  // Count months from year 0 so that stepping by several months stays aligned to January.
  const start = new Date(t0);
  let index = start.getUTCFullYear() * 12 + start.getUTCMonth();
  if (t0 > Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), 1)) index += 1;
  index = Math.ceil(index / months) * months;
  const ticks = [];
  for (let t = monthStart(index); t <= t1; index += months, t = monthStart(index)) ticks.push(t);
  return labelled(ticks, months >= 12 ? "year" : "month");
}

function monthStart(index) {
  return Date.UTC(Math.floor(index / 12), index % 12, 1);
}

/** Each tick's label, and under it the larger unit where that changes (the day under clock
 * times, the year under days), so a label never repeats what its neighbour already said. */
function labelled(ticks, unit) {
  const year = (t) => String(new Date(t).getUTCFullYear());
  const main = { clock: utcClock, day: utcDayMonth, month: utcMonth, year };
  const context = { clock: utcDayMonth, day: year, month: year, year: () => "" };
  return ticks.map((t, i) => {
    const sub = context[unit](t);
    const previous = i > 0 ? context[unit](ticks[i - 1]) : null;
    return { t, label: main[unit](t), sub: sub === previous ? "" : sub };
  });
}

function scales(box, t0, t1) {
  const x = (t) => box.left + ((t - t0) / (t1 - t0)) * (box.right - box.left);
  const y = (p) => box.bottom - p * (box.bottom - box.top);
  return { x, y };
}

/** A step line: each forecast holds until the next one, the last until `end`. */
function stepPath(points, end, x, y, value) {
  let d = `M${x(points[0].t)},${y(value(points[0]))}`;
  for (let i = 1; i < points.length; i += 1) {
    d += `H${x(points[i].t)}V${y(value(points[i]))}`;
  }
  return `${d}H${x(end)}`;
}

/** The 90% band under a step line: the upper bounds forward, the lower ones back. */
function bandPath(points, end, x, y, outcome) {
  const upper = stepPath(points, end, x, y, (p) => p.byOutcome[outcome].upper);
  const reversed = [...points].reverse();
  let back = `V${y(reversed[0].byOutcome[outcome].lower)}`;
  for (let i = 0; i < reversed.length; i += 1) {
    back += `H${x(reversed[i].t)}`;
    if (i + 1 < reversed.length) back += `V${y(reversed[i + 1].byOutcome[outcome].lower)}`;
  }
  return `${upper}${back}Z`;
}

function drawGrid(svg, box, y) {
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(el("line", { class: "grid", x1: box.left, x2: box.right, y1: y(p), y2: y(p) }));
    svg.append(
      el("text", { class: "tick", x: box.left - 6, y: y(p) + 4, "text-anchor": "end" }, percent(p)),
    );
  }
}

function drawTimeAxis(svg, box, x, ticks) {
  svg.append(
    el("line", { class: "axis", x1: box.left, x2: box.right, y1: box.bottom, y2: box.bottom }),
  );
  const labelY = box.bottom + TICK_LABEL_OFFSET;
  for (const tick of ticks) {
    svg.append(
      el("line", {
        class: "axis",
        x1: x(tick.t),
        x2: x(tick.t),
        y1: box.bottom,
        y2: box.bottom + 4,
      }),
    );
    const text = el("text", { class: "tick", x: x(tick.t), y: labelY, "text-anchor": "middle" });
    text.append(el("tspan", { x: x(tick.t) }, tick.label));
    if (tick.sub) text.append(el("tspan", { x: x(tick.t), dy: "1.2em" }, tick.sub));
    svg.append(text);
  }
}

function drawAsOf(svg, box, x, t) {
  svg.append(el("line", { class: "now", x1: x(t), x2: x(t), y1: box.top, y2: box.bottom }));
  const nearRight = x(t) > box.right - 40;
  svg.append(
    el(
      "text",
      {
        class: "tick",
        x: x(t) + (nearRight ? -4 : 4),
        y: box.top + 10,
        "text-anchor": nearRight ? "end" : "start",
      },
      "as of",
    ),
  );
}

function drawOutcomes(svg, points, end, x, y) {
  for (const outcome of OUTCOMES) {
    svg.append(
      el("path", { class: `band band--${outcome}`, d: bandPath(points, end, x, y, outcome) }),
    );
  }
  for (const outcome of OUTCOMES) {
    const d = stepPath(points, end, x, y, (p) => p.byOutcome[outcome].mean);
    const dash = DASHES[outcome];
    svg.append(el("path", { class: "line-casing", d, "stroke-dasharray": dash }));
    svg.append(el("path", { class: `line line--${outcome}`, d, "stroke-dasharray": dash }));
  }
}

function pointTitle(point, arrivals) {
  const values = OUTCOMES.map((o) => {
    const p = point.byOutcome[o];
    return `${OUTCOME_LABELS[o].toLowerCase()} ${percent(p.mean)} (${interval(p.lower, p.upper)})`;
  });
  const reports = point.reports_used === 1 ? "1 report" : `${point.reports_used} reports`;
  const known = arrivals.length ? `; known that day: ${arrivals.join(", ")}` : "";
  return `As of ${utcDate(point.t)}, ${reports}: ${values.join(", ")}${known}`;
}

/** Each point is a hover target the width of its step, with its details as a title; dots mark
 * the points where the forecast moved (a daily line would otherwise be all beads). */
function drawPoints(svg, box, points, x, y, arrivalsOn) {
  points.forEach((point, i) => {
    const group = titled(
      el("g", { class: "history-point", "data-testid": "history-point" }),
      pointTitle(point, arrivalsOn(point)),
    );
    const left = i > 0 ? (x(points[i - 1].t) + x(point.t)) / 2 : x(point.t);
    const right = i + 1 < points.length ? (x(point.t) + x(points[i + 1].t)) / 2 : x(point.t) + 1;
    group.append(
      el("rect", {
        class: "hover-column",
        x: left,
        y: box.top,
        width: Math.max(1, right - left),
        height: box.bottom - box.top,
      }),
    );
    const previous = points[i - 1];
    const moved =
      previous === undefined ||
      i === points.length - 1 ||
      OUTCOMES.some((o) => previous.byOutcome[o].mean !== point.byOutcome[o].mean);
    if (moved) {
      for (const outcome of OUTCOMES) {
        const cy = y(point.byOutcome[outcome].mean);
        group.append(el("circle", { class: `dot dot--${outcome}`, cx: x(point.t), cy, r: 3 }));
      }
    }
    svg.append(group);
  });
}

function reportTitle(report, label) {
  const retracted = report.retracted_at ? `, retracted ${utcDateTime(Date.parse(report.retracted_at))}` : "";
  return (
    `${label}: ${reportValue(report.value)}. ${report.source}, grade ${report.grade}. ` +
    `Observed ${report.observed_on}, known ${utcDateTime(Date.parse(report.known_at))}${retracted}.`
  );
}

/** One marker per report on the day it became known, a line back to the day it was observed;
 * those known before the timeline starts share one marker at the left edge. */
function drawReports(svg, box, x, reports, t0, labelOf) {
  const laneY = box.bottom + LANE_OFFSET;
  svg.append(
    el("text", { class: "tick", x: box.left - 6, y: laneY + 4, "text-anchor": "end" }, "reports"),
  );
  const earlier = reports.filter((r) => r.t < t0);
  if (earlier.length > 0) {
    const count = earlier.length === 1 ? "1 report" : `${earlier.length} reports`;
    const group = titled(
      el("g", {
        class: "report-marker report-marker--earlier",
        "data-testid": "report-marker-earlier",
      }),
      `${count} known before the timeline starts`,
    );
    group.append(el("rect", { x: box.left - 5, y: laneY - 5, width: 10, height: 10 }));
    svg.append(group);
  }
  for (const report of reports.filter((r) => r.t >= t0)) {
    const kind = [
      "report-marker",
      report.value >= 0.5 ? "report-marker--present" : "report-marker--absent",
      report.retracted_at ? "report-marker--retracted" : "",
    ].join(" ");
    const group = titled(
      el("g", { class: kind, "data-testid": "report-marker" }),
      reportTitle(report, labelOf(report.indicator)),
    );
    const cx = x(report.t);
    const seen = x(Math.max(t0, Date.parse(report.observed_on)));
    if (seen < cx) group.append(el("line", { class: "report-lag", x1: seen, x2: cx, y1: laneY, y2: laneY }));
    group.append(
      el("path", { d: `M${cx},${laneY - 6}L${cx + 5},${laneY + 4}L${cx - 5},${laneY + 4}Z` }),
    );
    svg.append(group);
  }
}

/** The day (midnight UTC) of a moment: points and markers are placed by day. */
function dayOf(moment) {
  return Math.floor(Date.parse(moment) / TIME.DAY) * TIME.DAY;
}

/**
 * Draw a case's timeline (`points` oldest first, as the API gives them, each the forecast as
 * of its date) and its `reports` (markers on the day each became known) into `svg`, `width`
 * pixels wide. `labelOf` turns an indicator id into its label.
 */
export function drawTimeline(svg, { points: timeline, reports, width, labelOf }) {
  const height = width < 600 ? 240 : 300;
  svg.replaceChildren(...svg.querySelectorAll(":scope > title, :scope > desc"));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));

  const points = timeline.map((p) => ({
    ...p,
    t: Date.parse(p.as_of),
    byOutcome: Object.fromEntries(p.probabilities.map((q) => [q.outcome, q])),
  }));
  const timed = reports.map((r) => ({ ...r, t: dayOf(r.known_at) }));
  if (points.length === 0) return "No timeline yet.";
  const t0 = points[0].t;
  const last = points.at(-1).t;
  const t1 = Math.max(last, t0 + TIME.DAY);

  const box = {
    left: MARGIN.left,
    right: width - MARGIN.right,
    top: MARGIN.top,
    bottom: height - MARGIN.bottom,
  };
  const { x, y } = scales(box, t0, t1);
  drawGrid(svg, box, y);
  drawTimeAxis(
    svg,
    box,
    x,
    timeTicks(t0, t1, Math.max(2, Math.floor((box.right - box.left) / 90))),
  );
  drawOutcomes(svg, points, t1, x, y);
  drawAsOf(svg, box, x, last);
  const arrivalsOn = (point) =>
    timed.filter((r) => r.t === point.t).map((r) => labelOf(r.indicator));
  drawPoints(svg, box, points, x, y, arrivalsOn);
  drawReports(svg, box, x, timed, t0, labelOf);
  return describe(points, timed);
}

/** A sentence for the chart's <desc>: what a sighted reader takes in at a glance. */
function describe(points, reports) {
  const last = points.at(-1);
  const latest = OUTCOMES.map((o) => `${OUTCOME_LABELS[o]} ${percent(last.byOutcome[o].mean)}`);
  return (
    `The forecast as of each day from ${utcDate(points[0].t)} to ${utcDate(last.t)}, ` +
    `${reports.length} reports known by then. As of ${utcDate(last.t)}: ${latest.join(", ")}.`
  );
}
