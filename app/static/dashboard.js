// The live dashboard: one case's forecast, kept current by the server's event stream and by
// polling with ETags (the fallback, and the only way when reads need a token).

import { DASHES, drawTimeline } from "./chart.js";
import {
  OUTCOMES,
  OUTCOME_LABELS,
  THRESHOLDS,
  TIME,
  age,
  daysSince,
  interval,
  percent,
  deliveryText,
  reportValue,
  ruleEvidence,
  ruleText,
  signed,
  useContract,
  utcDate,
  utcDateTime,
} from "./format.js";

const POLL_FIRST = 2 * TIME.SECOND;
const POLL_MAX = 30 * TIME.SECOND;
const POLL_GROWTH = 1.5;
const STREAM_RETRY_FIRST = 2 * TIME.SECOND;
const STREAM_RETRY_MAX = 60 * TIME.SECOND;
// Polls confirm the forecast at least every POLL_MAX: twice that without word is stale.
const STALE_AFTER = 2 * POLL_MAX;
const TOP_DRIVERS = 5;
const TOP_NEXT = 5;
const NEGLIGIBLE_LOG_ODDS = 0.005; // below the Monte Carlo error of the explanations
const TOKEN_KEY = "escalation-forecast.read-token";

const $ = (id) => document.getElementById(id);

const state = {
  cases: [],
  labels: new Map(), // indicator id -> label
  model: null,
  caseId: null,
  etag: null,
  forecast: null,
  asOf: null, // the date the page is seen as of (YYYY-MM-DD), null for the case's now
  since: null, // the date "what moved it" starts from, null for 30 days before the view
  timeline: [],
  changes: null,
  history: [],
  reports: [],
  alerts: [],
  refreshes: 0, // numbers each refresh of history and reports, so a late answer cannot win
  controller: null, // aborts the current case's requests when another case is picked
  pollDelay: POLL_FIRST,
  pollTimer: null,
  stream: null,
  streamOpen: false,
  streamRetry: STREAM_RETRY_FIRST,
  streamTimer: null,
  readsNeedToken: false,
  tokenPrompt: null,
  confirmedAt: null, // when the service last confirmed that the forecast shown is current
  failure: null, // the last poll's failure ({ lost, text }), null once a poll succeeds
};

// ---------------------------------------------------------------------------------------------
// Talking to the service

class HttpError extends Error {
  constructor(status, detail) {
    super(`the service answered ${status}${detail ? `: ${detail}` : ""}`);
    this.status = status;
  }
}

async function errorFrom(response) {
  let detail = "";
  try {
    const body = await response.json();
    detail = body.detail?.[0]?.msg ?? ""; // every error: {"detail": [{"loc", "msg", "type"}]}
  } catch {
    // not JSON: the status says enough
  }
  return new HttpError(response.status, detail);
}

/** GET `path`; when reads need the token, send it, and ask for it while it is missing or
 * refused (every read waits on the same form). */
async function read(path, { signal, headers = {} } = {}) {
  for (;;) {
    const sent = { Accept: "application/json", ...headers };
    const token = state.readsNeedToken ? sessionStorage.getItem(TOKEN_KEY) : null;
    if (token) sent.Authorization = `Bearer ${token}`;
    const response = await fetch(path, { headers: sent, signal, cache: "no-store" });
    if (response.status !== 401) return response;
    enterTokenMode();
    const stored = sessionStorage.getItem(TOKEN_KEY);
    if (stored && stored !== token) continue; // sent before the token was known: send it now
    if (token) sessionStorage.removeItem(TOKEN_KEY); // refused
    await askForToken(
      token
        ? "The token was refused: enter the current one."
        : "Reads on this service need its token.",
    );
  }
}

/** What went wrong, for people: no answer at all (the connection is lost), or a bad one. */
function failureOf(error) {
  if (error instanceof HttpError) return { lost: false, text: error.message };
  return { lost: true, text: "the service cannot be reached" };
}

async function readJson(path, signal) {
  const response = await read(path, { signal });
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

function casePath(suffix) {
  return `/v1/cases/${encodeURIComponent(state.caseId)}${suffix}`;
}

/** EventSource cannot send a header: with a token, updates come from polling alone. */
function enterTokenMode() {
  if (state.readsNeedToken) return;
  state.readsNeedToken = true;
  stopStream();
}

function askForToken(reason) {
  if (state.tokenPrompt) return state.tokenPrompt;
  const form = $("token-form");
  $("token-reason").textContent = reason;
  form.hidden = false;
  $("token-input").focus();
  state.tokenPrompt = new Promise((resolve) => {
    form.addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
        $("token-input").value = "";
        form.hidden = true;
        state.tokenPrompt = null;
        resolve();
      },
      { once: true },
    );
  });
  return state.tokenPrompt;
}

// ---------------------------------------------------------------------------------------------
// Updates: polling with backoff, and the event stream

function confirmed() {
  state.confirmedAt = Date.now();
  state.failure = null;
  renderFreshness();
}

/** The longest wait between polls. While the stream is live it brings every change, so polls
 * only confirm; without it, polls are all there is and a new report must show within 2 s. */
function pollCeiling() {
  return state.streamOpen || state.failure ? POLL_MAX : POLL_FIRST;
}

function schedulePoll(delay) {
  clearTimeout(state.pollTimer);
  state.pollTimer = setTimeout(poll, delay);
}

async function poll() {
  const { signal } = state.controller;
  let changed = false;
  try {
    const headers = state.etag ? { "If-None-Match": state.etag } : {};
    const response = await read(casePath(forecastPath()), { signal, headers });
    if (response.status === 304) {
      confirmed();
    } else if (response.ok) {
      const forecast = await response.json();
      confirmed(); // the forecast is current now, before the timeline and reports arrive
      changed = await applyForecast(response.headers.get("ETag"), forecast, signal);
    } else {
      throw await errorFrom(response);
    }
  } catch (error) {
    if (signal.aborted) return;
    state.failure = failureOf(error);
  }
  if (signal.aborted) return;
  state.pollDelay = changed ? POLL_FIRST : Math.min(state.pollDelay * POLL_GROWTH, pollCeiling());
  schedulePoll(state.pollDelay);
  renderFreshness();
}

/** Poll again soon, and often: the forecast changed, or the page was out of sight. */
function resetPolling() {
  state.pollDelay = POLL_FIRST;
  schedulePoll(POLL_FIRST);
}

/** Poll at once: the stream that was bringing changes stopped (is the service there?), or
 * the network came back. */
function pollNow() {
  state.pollDelay = POLL_FIRST;
  schedulePoll(0);
}

/** A stream event's id is the forecast's ETag; quote it if the server did not. */
function asEtag(id) {
  return id.startsWith('"') || id.startsWith("W/") ? id : `"${id}"`;
}

function startStream() {
  state.streamTimer = null;
  if (state.readsNeedToken || !("EventSource" in window) || state.caseId === null) return;
  const source = new EventSource(casePath("/events"));
  const { signal } = state.controller;
  state.stream = source;
  source.addEventListener("open", () => {
    state.streamOpen = true;
    state.streamRetry = STREAM_RETRY_FIRST;
    confirmed();
  });
  source.addEventListener("forecast", async (event) => {
    confirmed();
    // The stream brings the case's now; a page seen as of another date replays that date
    // (a report known then may just have been entered).
    if (state.asOf !== null) pollNow();
    else if (await applyForecast(asEtag(event.lastEventId), JSON.parse(event.data), signal))
      resetPolling();
  });
  source.addEventListener("error", () => {
    const wasOpen = state.streamOpen;
    state.streamOpen = false;
    // CONNECTING: the browser reconnects by itself (the server's `retry`). CLOSED: it gave up
    // (an error status, or no such endpoint): try again later, less and less often.
    if (source.readyState === EventSource.CLOSED) {
      state.stream = null;
      state.streamTimer = setTimeout(startStream, state.streamRetry);
      state.streamRetry = Math.min(state.streamRetry * 2, STREAM_RETRY_MAX);
    }
    if (wasOpen) pollNow();
    renderFreshness();
  });
}

function stopStream() {
  clearTimeout(state.streamTimer);
  state.streamTimer = null;
  state.stream?.close();
  state.stream = null;
  state.streamOpen = false;
}

/** Show a forecast if it is new; then fetch the history and reports that go with it. Returns
 * whether it was new. */
async function applyForecast(etag, forecast, signal) {
  if (etag === state.etag) return false;
  state.etag = etag;
  state.forecast = forecast;
  renderForecast();
  if (state.model?.artifact_id !== forecast.artifact_id) loadModel(signal);
  const refresh = ++state.refreshes;
  try {
    const [timeline, changes, history, reports, alerts] = await Promise.all([
      readJson(casePath(`/forecast/timeline?to=${forecast.as_of}`), signal),
      readJson(changesPath(forecast), signal),
      readJson(casePath("/forecast/history"), signal),
      readJson(casePath("/reports"), signal),
      readJson(casePath("/alerts"), signal), // a rule fires only when the forecast changes
    ]);
    if (refresh !== state.refreshes) return true; // a newer forecast's refresh owns the page
    Object.assign(state, { timeline, changes, history, reports, alerts });
    renderHistory();
    renderSince();
    renderReports();
    renderAlerts();
  } catch {
    if (!signal.aborted) state.etag = null; // refetch all at the next poll
  }
  return true;
}

/** What moved the forecast shown since the "since" date (default: 30 days before it). */
function changesPath(forecast) {
  return casePath(`/forecast/changes?from=${sinceDate(forecast)}&to=${forecast.as_of}`);
}

function sinceDate(forecast) {
  if (state.since !== null && state.since <= forecast.as_of) return state.since;
  const day = new Date(Date.parse(forecast.as_of) - 30 * TIME.DAY);
  return day.toISOString().slice(0, 10);
}

/** The forecast the page shows: the case's now, or replayed as of the date picked. */
function forecastPath() {
  return state.asOf === null ? "/forecast" : `/forecast?as_of=${state.asOf}`;
}

async function loadModel(signal) {
  try {
    state.model = await readJson("/v1/model", signal);
    renderModel();
  } catch {
    // The model panel keeps what it showed; the forecast itself names the artifact.
  }
}

// ---------------------------------------------------------------------------------------------
// Choosing a case

function caseFromHash() {
  const id = decodeURIComponent(location.hash.slice(1));
  return state.cases.some((c) => c.id === id) ? id : null;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** A date from the address (`?as_of=`, `?since=`), if it is one. */
function dateFromUrl(name) {
  const value = new URLSearchParams(location.search).get(name);
  return value !== null && ISO_DATE.test(value) && !Number.isNaN(Date.parse(value))
    ? value
    : null;
}

/** Keep the view's dates in the address, so that it can be shared (the hash names the case). */
function writeUrl() {
  const params = new URLSearchParams();
  if (state.asOf !== null) params.set("as_of", state.asOf);
  if (state.since !== null) params.set("since", state.since);
  const query = params.size ? `?${params}` : "";
  history.replaceState(null, "", `${location.pathname}${query}${location.hash}`);
}

/** A case's "now": its clock or today, never past its resolution (YYYY-MM-DD). */
function caseNow(c) {
  const now = c.clock ?? todayUtc();
  return c.resolved_on && c.resolved_on < now ? c.resolved_on : now;
}

/** See the case as of `day` (YYYY-MM-DD; null or its now: its now). */
function viewAsOf(day) {
  const c = currentCase();
  const now = caseNow(c);
  state.asOf = day === null || day === now ? null : day;
  writeUrl();
  state.etag = null;
  pollNow();
}

function todayUtc() {
  return new Date().toISOString().slice(0, 10);
}

function loadCase(id) {
  state.controller?.abort();
  stopStream();
  clearTimeout(state.pollTimer);
  Object.assign(state, {
    controller: new AbortController(),
    caseId: id,
    etag: null,
    forecast: null,
    timeline: [],
    changes: null,
    history: [],
    reports: [],
    alerts: [],
    pollDelay: POLL_FIRST,
    streamRetry: STREAM_RETRY_FIRST,
    confirmedAt: null,
    failure: null,
  });
  $("case-select").value = id;
  renderCase();
  startStream();
  schedulePoll(0);
}

function onHashChange() {
  const id = caseFromHash();
  if (id === null) {
    history.replaceState(null, "", `${location.search}#${encodeURIComponent(state.caseId)}`); // no such case
  } else if (id !== state.caseId) {
    state.asOf = null; // another case: seen at its own clock
    state.since = null;
    writeUrl();
    loadCase(id);
  }
}

/** Cases created since the page loaded appear when the picker is next focused. */
async function refreshCases() {
  let cases;
  try {
    cases = await readJson("/v1/cases");
  } catch {
    return; // the freshness line already reports a service that does not answer
  }
  const ids = (list) => list.map((c) => c.id).join("\n");
  if (ids(cases) === ids(state.cases)) return;
  state.cases = cases;
  fillCasePicker();
  if (state.caseId !== null) $("case-select").value = state.caseId;
}

function fillCasePicker() {
  const select = $("case-select");
  select.replaceChildren(...state.cases.map((c) => new Option(`${c.title} (${c.id})`, c.id)));
  select.disabled = state.cases.length === 0;
  if (state.cases.length === 0) select.append(new Option("No cases yet", ""));
}

// ---------------------------------------------------------------------------------------------
// Rendering

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

function swatch(outcome) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "swatch");
  svg.setAttribute("viewBox", "0 0 28 10");
  svg.setAttribute("aria-hidden", "true");
  svg.innerHTML =
    `<line class="line-casing" x1="1" y1="5" x2="27" y2="5" stroke-dasharray="${DASHES[outcome]}"/>` +
    `<line class="line line--${outcome}" x1="1" y1="5" x2="27" y2="5" stroke-dasharray="${DASHES[outcome]}"/>`;
  return svg;
}

function currentCase() {
  return state.cases.find((c) => c.id === state.caseId);
}

/** What each outcome means for this case, in its own names. */
function outcomeMeaning(outcome, c) {
  return {
    no_entry: `${c.state} supports the war without sending its own forces in`,
    false_flag: `a staged or fabricated incident blamed on ${c.target} serves as a pretext`,
    direct_invasion: `${c.state}'s own forces cross into ${c.target}`,
  }[outcome];
}

function renderCase() {
  const c = currentCase();
  const patron = c.patron ? `, patron ${c.patron}` : "";
  setText($("case-title"), `${c.title} ${c.state} \u2192 ${c.target}${patron}.`);
  setText($("horizon"), String(c.horizon_days));
  document.title = `${c.title} \u2013 Escalation forecast`;
  $("probs").replaceChildren(...OUTCOMES.map((o) => probabilityCard(o, c)));
  $("history-legend").replaceChildren(
    ...OUTCOMES.map((o) =>
      h(
        "li",
        { "data-outcome": o },
        swatch(o),
        `${OUTCOME_LABELS[o]} `,
        h("span", { "data-role": "mean" }),
      ),
    ),
    h("li", { class: "legend__reports" }, reportKey(), "report known (line: since observed)"),
  );
  setText($("as-of"), "Loading the forecast\u2026");
  const input = $("as-of-input");
  input.min = c.opened_on;
  input.max = todayUtc();
  input.value = state.asOf ?? caseNow(c);
  $("since-input").min = c.opened_on;
  $("since-input").max = input.value;
  for (const id of [
    "warnings",
    "drivers",
    "next",
    "reports-rows",
    "history-rows",
    "changes-rows",
    "alerts-rows",
  ])
    $(id).replaceChildren();
  setText($("reports-count"), "");
  renderHistory();
  renderFreshness();
}

function reportKey() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "swatch swatch--report");
  svg.setAttribute("viewBox", "0 0 12 12");
  svg.setAttribute("aria-hidden", "true");
  svg.innerHTML = '<path class="report-marker--present" d="M6,1L11,11L1,11Z"/>';
  return svg;
}

function probabilityCard(outcome, c) {
  return h(
    "article",
    {
      class: `prob prob--${outcome}`,
      "data-testid": `prob-${outcome}`,
      "data-outcome": outcome,
      "aria-atomic": "true",
    },
    h("h3", { class: "prob__label" }, swatch(outcome), OUTCOME_LABELS[outcome]),
    h("p", { class: "prob__value", "data-role": "mean" }, "\u2013"),
    h("p", { class: "prob__words", "data-role": "words" }),
    h(
      "div",
      { class: "range", "aria-hidden": "true" },
      h("span", { class: "range__band" }),
      h("span", { class: "range__mean" }),
    ),
    h("p", { class: "prob__interval", "data-role": "interval" }),
    h("p", { class: "prob__meaning" }, outcomeMeaning(outcome, c)),
  );
}

function renderForecast() {
  const f = state.forecast;
  const reports = f.reports_used === 1 ? "1 report" : `${f.reports_used} reports`;
  const c = currentCase();
  const seen =
    state.asOf !== null
      ? "replayed"
      : c.resolved_as
        ? `frozen at its resolution (${OUTCOME_LABELS[c.resolved_as].toLowerCase()})`
        : c.clock
          ? "the case's clock (historical case)"
          : "today (live case)";
  const later = f.reports_left_out
    ? ` ${f.reports_left_out} later ${f.reports_left_out === 1 ? "report is" : "reports are"} left out.`
    : "";
  setText(
    $("as-of"),
    `As of ${utcDate(Date.parse(f.as_of))}, ${seen}, from ${reports} known then.${later}`,
  );
  $("as-of-input").value = f.as_of;
  $("as-of-reset").disabled = state.asOf === null;
  $("since-input").max = f.as_of;
  for (const p of f.probabilities) {
    const card = $("probs").querySelector(`[data-outcome="${p.outcome}"]`);
    card.dataset.mean = String(p.mean);
    setText(card.querySelector('[data-role="mean"]'), percent(p.mean));
    setText(card.querySelector('[data-role="words"]'), p.words);
    setText(
      card.querySelector('[data-role="interval"]'),
      `90% interval ${interval(p.lower, p.upper)}`,
    );
    card.querySelector(".range__band").style.cssText =
      `left:${p.lower * 100}%;width:${(p.upper - p.lower) * 100}%`;
    card.querySelector(".range__mean").style.left = `${p.mean * 100}%`;
    setText(
      $("history-legend").querySelector(`[data-outcome="${p.outcome}"] [data-role="mean"]`),
      percent(p.mean),
    );
  }
  renderPrior();
  renderWarnings();
  renderDrivers();
  renderNext();
}

/** Where the forecast starts from (the prior and whose it is), and how far the plausible
 * range of the invasion base rate would move it. */
function renderPrior() {
  const { prior, base_rates: shifts } = state.forecast;
  const whose = {
    catalog: `the ${prior.kind.replace("_", " ")} population base rate`,
    case: "the analyst's prior for this case",
    scenario: "the scenario's prior",
  }[prior.source] ?? prior.source;
  const invasion = shifts.filter((s) => s.outcome === "direct_invasion");
  const [low, high] = [...invasion].sort((a, b) => a.base_rate - b.base_rate);
  const range = low
    ? ` With the invasion base rate anywhere from ${percent(low.base_rate)} to ` +
      `${percent(high.base_rate)}, invasion would be ` +
      `${percent(low.probabilities.direct_invasion)}–${percent(high.probabilities.direct_invasion)}.`
    : "";
  setText(
    $("prior"),
    `Starts from ${whose}: invasion ${percent(prior.probabilities.direct_invasion)}, ` +
      `false flag ${percent(prior.probabilities.false_flag)}.${range}`,
  );
}

function renderWarnings() {
  const f = state.forecast;
  const items = [];
  if (f.surprise) {
    const best = Math.max(...Object.values(f.surprise_z));
    items.push(
      `Surprise: these reports are unlikely under every outcome (best fit z = ${signed(best)}). ` +
        "Check the reports, or the model.",
    );
  }
  if (f.pareto_k !== null && f.pareto_k > THRESHOLDS.reliable_pareto_k) {
    items.push(
      `Pareto k = ${f.pareto_k.toFixed(2)} (above ${THRESHOLDS.reliable_pareto_k}): this case is unlike ` +
        "the reference cases; the model is due a refit.",
    );
  }
  $("warnings").replaceChildren(
    ...items.map((text) => h("li", { class: "banner banner--warning" }, text)),
  );
}

/** A section with nothing to list says why, in a sentence. */
function showEmpty(id, sentence) {
  $(id).replaceChildren(h("p", { class: "empty" }, sentence));
}

function labelOf(indicator) {
  return state.labels.get(indicator) ?? indicator;
}

function renderDrivers() {
  const top = state.forecast.contributions
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

/** The outcome an indicator would move most, and where it would move it. */
function biggestSwing(item) {
  return OUTCOMES.reduce((best, o) =>
    Math.abs(item.if_present[o] - item.if_absent[o]) >
    Math.abs(item.if_present[best] - item.if_absent[best])
      ? o
      : best,
  );
}

function renderNext() {
  const items = state.forecast.value_of_information.slice(0, TOP_NEXT);
  if (items.length === 0) {
    showEmpty(
      "next",
      "Every indicator in the catalog already has reports: there is nothing unobserved left to look for.",
    );
    return;
  }
  const now = Object.fromEntries(state.forecast.probabilities.map((p) => [p.outcome, p.mean]));
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

function renderHistory() {
  const box = $("history-chart-box");
  const width = Math.max(280, Math.floor(box.clientWidth));
  const description = drawTimeline($("history-chart"), {
    points: state.timeline.points ?? [],
    reports: state.timeline.reports ?? [],
    width,
    labelOf,
  });
  setText($("history-chart-desc"), description);
  renderHistoryTable();
}

function renderHistoryTable() {
  const rows = [...state.history].reverse().map((point) =>
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
  $("history-rows").replaceChildren(...rows);
}

/** "Since <date>: +12 pp direct invasion, mostly <report>", and the breakdown part by part. */
function renderSince() {
  const changes = state.changes;
  if (changes === null) return;
  $("since-input").value = changes.start;
  const { outcome, change, mostly } = changes.headline;
  const points = (x) => `${x >= 0 ? "+" : "\u2212"}${Math.abs(x * 100).toFixed(0)} pp`;
  const main = mostly === null ? null : partLabel(changes.parts[mostly]);
  const moved =
    Math.abs(change) < 0.005
      ? "no outcome moved by a point or more"
      : `${points(change)} ${OUTCOME_LABELS[outcome].toLowerCase()}${main ? `, mostly ${main}` : ""}`;
  setText($("since"), `Since ${utcDate(Date.parse(changes.start))}: ${moved}.`);
  $("changes-link").href = changesPath(state.forecast);
  const rows = changes.parts.map((part) =>
    h(
      "tr",
      { "data-kind": part.kind },
      h("td", {}, partLabel(part)),
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

function partLabel(part) {
  if (part.kind === "model")
    return `a new model (${state.changes.start_artifact_id} to ${state.changes.artifact_id})`;
  if (part.kind === "ageing") return "ageing of the reports that stood throughout";
  const r = part.report;
  const what = `${labelOf(r.indicator)} ${reportValue(r.value)} (${r.source}, ${r.grade})`;
  return part.kind === "retracted" ? `retracting ${what}` : what;
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

function renderReports() {
  // Ages are counted to the day the forecast is as of: a historical case's reports are not
  // years old on its clock.
  const asOf = state.forecast?.as_of ?? todayUtc();
  const reference = Date.parse(asOf);
  const live = state.reports.filter((r) => !r.retracted_at).length;
  const retracted = state.reports.length - live;
  setText($("reports-count"), `(${live}${retracted ? `, ${retracted} retracted` : ""})`);
  const rows = [...state.reports].sort(newestFirst).map((r) =>
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

function ruleState(rule) {
  if (rule.deleted_at) return `stopped by ${rule.deleted_by}`;
  return rule.armed ? "armed" : "fired: waits to re-arm";
}

function renderAlerts() {
  const active = state.alerts.filter((rule) => !rule.deleted_at).length;
  setText($("alerts-count"), `(${active} active)`);
  const rows = state.alerts.map((rule) =>
    h(
      "tr",
      { class: rule.deleted_at ? "stopped" : "", "data-rule-id": String(rule.id) },
      h("td", { title: `made by ${rule.created_by}` }, ruleText(rule)),
      h("td", { "data-label": "fires on" }, ruleEvidence(rule)),
      h("td", { class: "source", "data-label": "receiver" }, rule.receiver),
      h("td", { class: "status", "data-label": "state" }, ruleState(rule)),
      h(
        "td",
        { "data-label": "last fired" },
        rule.last_fired_at ? utcDateTime(Date.parse(rule.last_fired_at)) : "never",
      ),
      h("td", { "data-label": "last delivery" }, deliveryText(rule.last_delivery)),
    ),
  );
  if (rows.length === 0)
    rows.push(h("tr", {}, h("td", { colspan: "6", class: "empty" }, "No alert rules on this case.")));
  $("alerts-rows").replaceChildren(...rows);
}

/** `+7% (95% −3% to +17%)`: a skill with its interval. */
function skillText(s) {
  const pct = (x) => `${x >= 0 ? "+" : "−"}${Math.abs(Math.round(x * 100))}%`;
  return `${pct(s.value)} (95% ${pct(s.lower)} to ${pct(s.upper)})`;
}

function aucText(a) {
  if (!a) return "undefined (no such case)";
  return `${a.value.toFixed(2)} (${a.lower.toFixed(2)}\u2013${a.upper.toFixed(2)})`;
}

function renderModel() {
  const m = state.model;
  const d = m.diagnostics;
  const s = m.skill;
  const skill =
    `Brier skill of the evidence ${skillText(s.brier_skill)} over the reference frequency, ` +
    `leaving one of ${s.families} crisis families out at a time (${s.cases} cases); ` +
    `AUC invasion ${aucText(s.auc.direct_invasion)}, false flag ${aucText(s.auc.false_flag)}.`;
  const facts = [
    ["Artifact", h("code", {}, m.artifact_id)],
    [
      "Fitted",
      h("span", { "data-role": "fitted-age", title: utcDateTime(Date.parse(m.fitted_at)) }),
    ],
    [
      "Checks",
      h(
        "span",
        { class: d.passed ? "ok" : "bad", "data-testid": "model-passed" },
        d.passed ? "\u2713 passed" : "\u2717 failed",
      ),
      ` ${d.summary}`,
    ],
    ["Reference cases", String(m.reference_cases)],
    ["Out of sample", h("span", { "data-testid": "model-skill" }, skill)],
  ];
  $("model").replaceChildren(
    ...facts.flatMap(([term, ...value]) => [h("dt", {}, term), h("dd", {}, ...value)]),
  );
  renderClock();
}

/** The connection's state, how fresh the forecast is, and a warning when either is wrong. */
function renderFreshness() {
  const now = Date.now();
  const connection = $("connection");
  const stale = state.confirmedAt !== null && now - state.confirmedAt > STALE_AFTER;
  const failed = state.failure && (state.failure.lost ? "lost" : "error");
  const mode =
    failed || (state.streamOpen ? "live" : state.confirmedAt === null ? "connecting" : "polling");
  const words = {
    lost: "connection lost",
    error: "service error",
    live: "live",
    polling: "polling",
    connecting: "connecting",
  };
  connection.dataset.state = mode;
  setText(connection, words[mode]);
  const updated = $("updated");
  updated.classList.toggle("stale", stale || Boolean(state.failure));
  setText(
    updated,
    state.confirmedAt === null ? "not yet updated" : `updated ${age(now - state.confirmedAt)} ago`,
  );
  // The alert's text changes only when the trouble does: each change is announced.
  const warning = $("connection-warning");
  const message = state.failure
    ? `Not updating: ${state.failure.text}. The page shows what the service last sent, and keeps trying.`
    : stale
      ? "No word from the service for over a minute: the forecast may be out of date."
      : "";
  warning.hidden = message === "";
  setText(warning, message);
}

function renderClock() {
  renderFreshness();
  const fitted = $("model").querySelector('[data-role="fitted-age"]');
  if (fitted && state.model)
    setText(fitted, `${age(Date.now() - Date.parse(state.model.fitted_at))} ago`);
}

// ---------------------------------------------------------------------------------------------
// Start

function bindControls() {
  $("case-select").addEventListener("change", (event) => {
    location.hash = encodeURIComponent(event.target.value);
  });
  $("case-select").addEventListener("focus", refreshCases);
  $("view-date").addEventListener("submit", (event) => event.preventDefault());
  $("as-of-input").addEventListener("change", (event) => {
    if (event.target.checkValidity() && event.target.value) viewAsOf(event.target.value);
  });
  $("as-of-reset").addEventListener("click", () => viewAsOf(null));
  $("since-input").addEventListener("change", (event) => {
    if (!event.target.checkValidity() || !event.target.value) return;
    state.since = event.target.value;
    writeUrl();
    state.etag = null;
    pollNow();
  });
  // A page left for another (kept in the back-forward cache) must not keep its event stream:
  // browsers allow six connections to a server, and each cached page would hold one.
  window.addEventListener("pagehide", stopStream);
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && state.caseId !== null) startStream();
  });
  window.addEventListener("hashchange", onHashChange);
  // The skip link moves focus without touching the URL's hash, which names the case.
  document.querySelector(".skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    $("main").focus();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.caseId !== null) resetPolling();
  });
  // The browser knows when it leaves the network: a poll then fails at once and says so,
  // where an open stream may take a while to notice.
  window.addEventListener("offline", () => state.caseId !== null && pollNow());
  // Back on the network (a laptop waking, Wi-Fi returning): catch up now, not at the next
  // retry, which may be half a minute away after a long outage.
  window.addEventListener("online", () => {
    if (state.caseId === null) return;
    if (!state.streamOpen) {
      stopStream();
      startStream();
    }
    pollNow();
  });
  let frame = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => state.caseId !== null && renderHistory());
  }).observe($("history-chart-box"));
  setInterval(renderClock, TIME.SECOND);
}

/** The contract's labels and thresholds, the cases and the indicators' labels; true once
 * loaded. The first read goes without a token: reads that need none keep the event stream. */
async function loadCatalog() {
  try {
    const [contract, cases, indicators] = await Promise.all([
      readJson("/v1/contract"),
      readJson("/v1/cases"),
      readJson("/v1/indicators"),
    ]);
    useContract(contract);
    state.cases = cases;
    state.labels = new Map(indicators.map((i) => [i.id, i.label]));
    state.failure = null;
    return true;
  } catch (error) {
    state.failure = failureOf(error);
    renderFreshness();
    return false;
  }
}

async function start() {
  bindControls();
  for (let delay = POLL_FIRST; !(await loadCatalog()); delay = Math.min(delay * 2, POLL_MAX)) {
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  fillCasePicker();
  if (state.cases.length === 0) {
    setText($("case-title"), "No cases yet: create one through the API (POST /v1/cases).");
    return;
  }
  const id = caseFromHash() ?? state.cases[0].id;
  state.asOf = dateFromUrl("as_of");
  state.since = dateFromUrl("since");
  history.replaceState(null, "", `${location.search}#${encodeURIComponent(id)}`);
  loadCase(id);
}

start();
