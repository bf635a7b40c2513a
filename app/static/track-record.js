// The track-record page: how good the forecasts of resolved cases were, from
// GET /v1/track-record. Read once on load; the numbers change only when a case is resolved.

import { $, h } from "./dom.js";
import { OUTCOME_LABELS, percent, signed, useContract, utcDate } from "./format.js";
import { TOKEN_KEY } from "./transport.js"; // the dashboard keeps the read key there

const SVG = "http://www.w3.org/2000/svg";
const METRICS = { brier: "Brier (0–2)", log: "Log score (nats)", rps: "Ranked probability (0–1)" };
const SIZE = 360;
const PAD = 44;

function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/** "0.412 (0.380 to 0.447)": an estimate with its interval (signed, for a difference). */
export function estimateText(e, digits = 3, sign = false) {
  const show = (x) => (sign ? signed(x, digits) : x.toFixed(digits));
  return `${show(e.mean)} (${show(e.lower)} to ${show(e.upper)})`;
}

/** Whether the forecasts beat the base rate, by the interval of their difference. */
export function verdict(difference) {
  if (difference.upper < 0) return "better than the base rate";
  if (difference.lower > 0) return "worse than the base rate";
  return "no clear difference";
}

function row(...cells) {
  return h("tr", {}, ...cells.map((cell) => h("td", {}, cell)));
}

function empty(columns, sentence) {
  return h("tr", {}, h("td", { colspan: String(columns), class: "empty" }, sentence));
}

function renderScores(record) {
  const rows = Object.entries(METRICS)
    .filter(([metric]) => record.time_averaged[metric])
    .map(([metric, label]) => {
      const s = record.time_averaged[metric];
      const difference = estimateText(s.difference, 3, true);
      return row(label, estimateText(s.forecast), estimateText(s.base_rate), difference, verdict(s.difference));
    });
  $("scores-rows").replaceChildren(...(rows.length ? rows : [empty(5, "No case resolved yet.")]));
  const leads = Object.entries(record.at_lead)
    .filter(([, scores]) => scores.brier)
    .map(([lead, scores]) => {
      const s = scores.brier;
      const difference = estimateText(s.difference, 3, true);
      return row(lead, String(s.cases), estimateText(s.forecast), estimateText(s.base_rate), difference);
    });
  $("leads-rows").replaceChildren(...(leads.length ? leads : [empty(5, "No case was open that long before its outcome.")]));
}

function renderCalibration(record) {
  const rows = record.calibration.map((bin) =>
    row(
      `${percent(bin.lower)}–${percent(bin.upper)}`,
      String(bin.forecasts),
      String(bin.cases),
      percent(bin.mean_forecast),
      `${percent(bin.observed.mean)} (${percent(bin.observed.lower)} to ${percent(bin.observed.upper)})`,
    ),
  );
  $("calibration-rows").replaceChildren(...(rows.length ? rows : [empty(5, "No case resolved yet.")]));
  drawReliability(record.calibration);
}

function drawReliability(bins) {
  const chart = $("reliability");
  const keep = [...chart.querySelectorAll("title, desc")];
  const scale = (p) => PAD + p * (SIZE - 2 * PAD);
  const x = scale;
  const y = (p) => SIZE - scale(p);
  const nodes = [
    svg("rect", { x: PAD, y: PAD, width: SIZE - 2 * PAD, height: SIZE - 2 * PAD, class: "reliability__frame" }),
    svg("line", { x1: x(0), y1: y(0), x2: x(1), y2: y(1), class: "reliability__diagonal" }),
  ];
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    nodes.push(svg("text", { x: x(tick), y: SIZE - PAD + 16, class: "reliability__tick", "text-anchor": "middle" }, percent(tick)));
    nodes.push(svg("text", { x: PAD - 6, y: y(tick) + 4, class: "reliability__tick", "text-anchor": "end" }, percent(tick)));
  }
  nodes.push(svg("text", { x: SIZE / 2, y: SIZE - 6, "text-anchor": "middle", class: "reliability__label" }, "Forecast"));
  nodes.push(svg("text", { x: 12, y: SIZE / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${SIZE / 2})`, class: "reliability__label" }, "Observed"));
  const largest = Math.max(1, ...bins.map((bin) => bin.cases));
  for (const bin of bins) {
    const cx = x(bin.mean_forecast);
    const group = svg("g", { "data-testid": "reliability-point", "data-forecast": bin.mean_forecast, "data-observed": bin.observed.mean });
    group.append(
      svg("title", {}, `forecast ${percent(bin.mean_forecast)}, came ${percent(bin.observed.mean)} (${bin.cases} cases)`),
      svg("line", { x1: cx, x2: cx, y1: y(bin.observed.lower), y2: y(bin.observed.upper), class: "reliability__interval" }),
      svg("circle", { cx, cy: y(bin.observed.mean), r: 3 + 5 * Math.sqrt(bin.cases / largest), class: "reliability__point" }),
    );
    nodes.push(group);
  }
  chart.replaceChildren(...keep, ...nodes);
  $("reliability-desc").textContent = bins.length
    ? bins.map((bin) => `forecasts near ${percent(bin.mean_forecast)} came ${percent(bin.observed.mean)}`).join("; ")
    : "No resolved case yet.";
}

function renderAuc(record) {
  const rows = Object.entries(record.auc).map(([outcome, auc]) =>
    row(
      OUTCOME_LABELS[outcome],
      auc === null ? "not defined: every case, or none, ended this way" : `${percent(auc.mean)} (${percent(auc.lower)} to ${percent(auc.upper)})`,
    ),
  );
  $("auc-rows").replaceChildren(...rows);
}

function renderCases(record) {
  const rows = record.records.map((r) =>
    h(
      "tr",
      { "data-case-id": r.case_id },
      h("td", {}, h("a", { href: `/?as_of=${r.resolved_on}#${encodeURIComponent(r.case_id)}` }, r.case_id)),
      h("td", {}, OUTCOME_LABELS[r.outcome]),
      h("td", {}, utcDate(Date.parse(r.resolved_on))),
      h("td", { class: "num" }, String(r.days_scored)),
      h("td", { class: "num" }, r.time_averaged.forecast.brier.toFixed(3)),
      h("td", { class: "num" }, r.time_averaged.base_rate.brier.toFixed(3)),
    ),
  );
  $("cases-rows").replaceChildren(
    ...(rows.length ? rows : [empty(6, "No case resolved yet: an admin resolves one with POST /v1/cases/{id}/resolution.")]),
  );
}

async function load() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const [contract, response] = await Promise.all(
    ["/v1/contract", "/v1/track-record"].map((path) => fetch(path, { headers })),
  );
  const refused = [contract, response].find((r) => !r.ok);
  if (refused) {
    const failure = $("failure");
    failure.hidden = false;
    failure.textContent =
      refused.status === 401
        ? "Reads need a key: enter it on the dashboard first."
        : `The service answered ${refused.status}: the track record is not available.`;
    $("summary").textContent = "";
    return;
  }
  useContract(await contract.json());
  const record = await response.json();
  const cases = record.cases === 1 ? "1 resolved case" : `${record.cases} resolved cases`;
  $("summary").textContent = `${cases}, scored with model ${record.artifact_id}`;
  renderScores(record);
  renderCalibration(record);
  renderAuc(record);
  renderCases(record);
}

load();
