// The evidence: what moved the forecast (drivers), what to look for next, and the reports.

import { $, h, setText, showEmpty } from "../dom.js";
import {
  OUTCOMES,
  OUTCOME_LABELS,
  TIME,
  daysSince,
  percent,
  reportValue,
  signed,
  utcDateTime,
} from "../format.js";

const TOP_DRIVERS = 5;
const TOP_NEXT = 5;
const NEGLIGIBLE_LOG_ODDS = 0.005; // below the Monte Carlo error of the explanations

/** `label` names the column where a narrow screen stacks the cells (CSS, data-label). */
function driverCell(value, label) {
  const direction = Math.abs(value) < NEGLIGIBLE_LOG_ODDS ? "flat" : value > 0 ? "up" : "down";
  const arrow = { up: "\u25B2 ", down: "\u25BC ", flat: "" }[direction];
  return h(
    "td",
    { class: `num driver driver--${direction}`, "data-label": label },
    arrow + signed(value),
  );
}

/** The indicators whose reports moved the outcomes' log-odds most. */
export function renderDrivers(f, labelOf) {
  const top = f.contributions
    .filter((c) => Math.max(...Object.values(c.log_odds).map(Math.abs)) >= NEGLIGIBLE_LOG_ODDS)
    .slice(0, TOP_DRIVERS);
  if (top.length === 0) {
    showEmpty(
      "drivers",
      "No indicator moves any outcome noticeably: the reports are few, old, weak or balanced.",
    );
    return;
  }
  const head = h(
    "tr",
    {},
    h("th", { scope: "col" }, "Indicator"),
    ...OUTCOMES.map((o) => h("th", { scope: "col", class: "num" }, OUTCOME_LABELS[o])),
  );
  const rows = top.map((c) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, labelOf(c.indicator)),
      ...OUTCOMES.map((o) => driverCell(c.log_odds[o], OUTCOME_LABELS[o])),
    ),
  );
  $("drivers").replaceChildren(
    h(
      "div",
      { class: "table-scroll", tabindex: "0", role: "region", "aria-label": "Drivers table" },
      h("table", { class: "drivers stack" }, h("thead", {}, head), h("tbody", {}, ...rows)),
    ),
  );
}

/** The outcome an indicator would move most, and where it would move it. */
function biggestSwing(item) {
  return OUTCOMES.reduce((best, o) =>
    Math.abs(item.if_present[o] - item.if_absent[o]) >
    Math.abs(item.if_present[best] - item.if_absent[best])
      ? o
      : best,
  );
}

/** The unobserved indicators worth most to learn, and what each would do. */
export function renderNext(f, labelOf) {
  const items = f.value_of_information.slice(0, TOP_NEXT);
  if (items.length === 0) {
    showEmpty(
      "next",
      "Every indicator in the catalog already has reports: there is nothing unobserved left to look for.",
    );
    return;
  }
  const now = Object.fromEntries(f.probabilities.map((p) => [p.outcome, p.mean]));
  $("next").replaceChildren(
    h(
      "ol",
      { class: "next" },
      ...items.map((item) => {
        const o = biggestSwing(item);
        return h(
          "li",
          {},
          h("strong", {}, labelOf(item.indicator)),
          h(
            "span",
            { class: "next__swing" },
            `${OUTCOME_LABELS[o]}: ${percent(item.if_present[o])} if present, ${percent(item.if_absent[o])} if absent ` +
              `(now ${percent(now[o])})`,
          ),
          h(
            "span",
            { class: "next__odds" },
            `${percent(item.p_present)} likely present \u00B7 ${item.bits.toFixed(3)} bits`,
          ),
        );
      }),
    ),
  );
}

function newestFirst(a, b) {
  return (
    b.known_at.localeCompare(a.known_at) ||
    b.observed_on.localeCompare(a.observed_on) ||
    b.id - a.id
  );
}

/** A report's standing on the day the page is seen as of: retracted, not yet known, or none. */
function standing(report, asOf) {
  const end = Date.parse(asOf) + TIME.DAY;
  if (report.retracted_at && Date.parse(report.retracted_at) < end) return "retracted";
  if (Date.parse(report.known_at) >= end) return "known later";
  return "";
}

/** The case's reports, newest first, each with its standing on `asOf`. Ages are counted to
 * that day: a historical case's reports are not years old on its clock. */
export function renderReports(reports, older, asOf, labelOf) {
  const reference = Date.parse(asOf);
  const live = reports.filter((r) => !r.retracted_at).length;
  const retracted = reports.length - live;
  const count = `${live}${retracted ? `, ${retracted} retracted` : ""}`;
  setText($("reports-count"), older ? `(the latest ${reports.length}: ${count})` : `(${count})`);
  const rows = [...reports].sort(newestFirst).map((r) =>
    h(
      "tr",
      { class: standing(r, asOf).replace(" ", "-"), "data-report-id": String(r.id) },
      h("td", { title: r.indicator }, labelOf(r.indicator)),
      h("td", { class: "value" }, reportValue(r.value)),
      h(
        "td",
        { class: "source" },
        r.source,
        ...(r.note ? [h("span", { class: "note" }, r.note)] : []),
      ),
      h("td", { class: "grade", "data-label": "grade" }, r.grade),
      h(
        "td",
        {
          class: "num age",
          "data-label": "observed",
          title: `observed ${r.observed_on}, known ${utcDateTime(Date.parse(r.known_at))}`,
        },
        daysSince(r.observed_on, reference),
      ),
      h("td", { class: "status" }, standing(r, asOf)),
    ),
  );
  if (rows.length === 0)
    rows.push(
      h("tr", {}, h("td", { colspan: "6", class: "empty" }, "No reports on this case yet.")),
    );
  $("reports-rows").replaceChildren(...rows);
}
