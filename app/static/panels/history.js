// The forecast over time: the timeline chart, the audit record below it, and what moved the
// forecast since a date.

import { drawTimeline } from "../chart.js";
import { $, h, setText } from "../dom.js";
import {
  OUTCOMES,
  OUTCOME_LABELS,
  interval,
  percent,
  reportValue,
  utcDate,
  utcDateTime,
} from "../format.js";

/** The timeline chart at the box's width, and the audit record (`history`: its newest points,
 * newest first; `older`: whether there are older ones). */
export function renderHistory(timeline, history, older, labelOf) {
  const box = $("history-chart-box");
  const width = Math.max(280, Math.floor(box.clientWidth));
  const description = drawTimeline($("history-chart"), {
    points: timeline.points ?? [],
    reports: timeline.reports ?? [],
    width,
    labelOf,
  });
  setText($("history-chart-desc"), description);
  const rows = history.map((point) =>
    h(
      "tr",
      {},
      h("td", {}, utcDateTime(Date.parse(point.recorded_at))),
      h("td", {}, point.as_of),
      h("td", { class: "num" }, String(point.reports_used)),
      ...OUTCOMES.map((o) => {
        const p = point.probabilities.find((q) => q.outcome === o);
        return h("td", { class: "num" }, `${percent(p.mean)} (${interval(p.lower, p.upper)})`);
      }),
    ),
  );
  if (older) {
    const text = "Older forecasts are left out here: GET /v1/cases/{id}/forecast/history pages through them all.";
    rows.push(h("tr", { class: "older" }, h("td", { colspan: String(3 + OUTCOMES.length) }, text)));
  }
  $("history-rows").replaceChildren(...rows);
}

function partLabel(part, changes, labelOf) {
  if (part.kind === "model")
    return `a new model (${changes.start_artifact_id} to ${changes.artifact_id})`;
  if (part.kind === "ageing") return "ageing of the reports that stood throughout";
  const r = part.report;
  const what = `${labelOf(r.indicator)} ${reportValue(r.value)} (${r.source}, ${r.grade})`;
  return part.kind === "retracted" ? `retracting ${what}` : what;
}

/** "Since <date>: +12 pp direct invasion, mostly <report>", and the breakdown part by part;
 * `href` is the decomposition's own address. */
export function renderSince(changes, href, labelOf) {
  $("since-input").value = changes.start;
  const { outcome, change, mostly } = changes.headline;
  const points = (x) => `${x >= 0 ? "+" : "\u2212"}${Math.abs(x * 100).toFixed(0)} pp`;
  const main = mostly === null ? null : partLabel(changes.parts[mostly], changes, labelOf);
  const moved =
    Math.abs(change) < 0.005
      ? "no outcome moved by a point or more"
      : `${points(change)} ${OUTCOME_LABELS[outcome].toLowerCase()}${main ? `, mostly ${main}` : ""}`;
  setText($("since"), `Since ${utcDate(Date.parse(changes.start))}: ${moved}.`);
  $("changes-link").href = href;
  const rows = changes.parts.map((part) =>
    h(
      "tr",
      { "data-kind": part.kind },
      h("td", {}, partLabel(part, changes, labelOf)),
      ...OUTCOMES.map((o) => h("td", { class: "num" }, points(part.change[o]))),
    ),
  );
  rows.push(
    h(
      "tr",
      { class: "total" },
      h("th", { scope: "row" }, "Total"),
      ...OUTCOMES.map((o) => h("td", { class: "num" }, points(changes.total[o]))),
    ),
  );
  $("changes-rows").replaceChildren(...rows);
}
