// The live dashboard: one case's forecast, kept current by the forecast feed (the server's
// event stream, and polling with ETags). This module wires the parts together: the store
// (`store.js`) holds what is known, the transport (`transport.js`) reads it from the service,
// and each panel (`panels/`) is drawn from the data it is given.

import { $, setText } from "./dom.js";
import { TIME, useContract } from "./format.js";
import { renderAlerts } from "./panels/alerts.js";
import { renderDrivers, renderNext, renderReports } from "./panels/evidence.js";
import { renderCase, renderForecast, renderPrior, renderWarnings } from "./panels/forecast.js";
import { renderFreshness } from "./panels/freshness.js";
import { renderHistory, renderSince } from "./panels/history.js";
import { renderModel, renderModelAge } from "./panels/model.js";
import {
  caseNow,
  createStore,
  currentCase,
  labeller,
  showCase,
  todayUtc,
  withChanges,
} from "./store.js";
import { Feed, POLL_FIRST, POLL_MAX, Reader, TOKEN_KEY, failureOf } from "./transport.js";

const store = createStore();
const CASES = "/v1/cases"; // every page of it
// The newest of a case's history and reports are shown; the API pages through the rest.
const SHOWN = { history: 200, reports: 1000 };
const labelOf = labeller(store);
let feed = null; // the case shown's, replaced when another is picked
let tokenPrompt = null;

const reader = new Reader({
  askForToken,
  onTokenNeeded: () => feed?.stopStream(), // EventSource cannot send the token
});

function askForToken(reason) {
  if (tokenPrompt) return tokenPrompt;
  const form = $("token-form");
  $("token-reason").textContent = reason;
  form.hidden = false;
  $("token-input").focus();
  tokenPrompt = new Promise((resolve) => {
    form.addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
        $("token-input").value = "";
        form.hidden = true;
        tokenPrompt = null;
        resolve();
      },
      { once: true },
    );
  });
  return tokenPrompt;
}

function casePath(suffix) {
  return `/v1/cases/${encodeURIComponent(store.caseId)}${suffix}`;
}

/** The forecast the page shows: the case's now, or replayed as of the date picked. */
function forecastPath() {
  return casePath(store.asOf === null ? "/forecast" : `/forecast?as_of=${store.asOf}`);
}

/** What moved the forecast shown since the "since" date (default: 30 days before it). */
function changesPath(forecast) {
  return casePath(`/forecast/changes?from=${sinceDate(forecast)}&to=${forecast.as_of}`);
}

function sinceDate(forecast) {
  if (store.since !== null && store.since <= forecast.as_of) return store.since;
  const day = new Date(Date.parse(forecast.as_of) - 30 * TIME.DAY);
  return day.toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------------------------
// Drawing the panels from the store

function drawFreshness() {
  renderFreshness({
    live: feed?.streamOpen ?? false,
    confirmedAt: store.confirmedAt,
    failure: store.failure,
  });
}

function drawForecast() {
  const f = store.forecast;
  renderForecast(f, currentCase(store), store.asOf);
  renderPrior(f);
  renderWarnings(f);
  renderDrivers(f, labelOf);
  renderNext(f, labelOf);
}

function drawHistory() {
  renderHistory(store.timeline, store.history, store.olderHistory, labelOf);
}

function drawEvidence() {
  drawHistory();
  if (store.changes !== null) renderSince(store.changes, changesPath(store.forecast), labelOf);
  renderReports(store.reports, store.olderReports, store.forecast?.as_of ?? todayUtc(), labelOf);
  renderAlerts(store.alerts);
}

function drawClock() {
  drawFreshness();
  renderModelAge(store.model);
}

// ---------------------------------------------------------------------------------------------
// What the feed brings

/** Show a forecast if it is new; then bring the lists that go with it up to date: with the
 * stream's `changes` when they lead from the forecast whose lists are held, else by reading
 * them. Returns whether it was new. */
async function applyForecast(etag, forecast, signal, changes = null) {
  if (etag === store.etag) return false;
  store.etag = etag;
  store.forecast = forecast;
  drawForecast();
  if (store.model?.artifact_id !== forecast.artifact_id) loadModel(signal);
  const refresh = ++store.refreshes;
  // The lists held may be older than the forecast shown (its refresh was overtaken).
  const incremental = changes !== null && changes.since === store.listsEtag;
  try {
    const [timeline, since, alerts, lists] = await Promise.all([
      reader.readJson(casePath(`/forecast/timeline?to=${forecast.as_of}`), signal),
      reader.readJson(changesPath(forecast), signal),
      reader.readJson(casePath("/alerts"), signal), // a rule fires only when the forecast changes
      incremental ? withChanges(store, changes, SHOWN) : readLists(signal),
    ]);
    if (refresh !== store.refreshes) return true; // a newer forecast's refresh owns the page
    Object.assign(store, { timeline, changes: since, alerts, listsEtag: etag }, lists);
    drawEvidence();
  } catch {
    if (!signal.aborted) store.etag = null; // refetch all at the next poll
  }
  return true;
}

/** The newest of the case's history and reports, read. */
async function readLists(signal) {
  const [history, reports] = await Promise.all([
    reader.readPage(casePath(`/forecast/history?order=desc&limit=${SHOWN.history}`), signal),
    reader.readPage(casePath(`/reports?order=desc&limit=${SHOWN.reports}`), signal),
  ]);
  return {
    history: history.items,
    olderHistory: history.next !== null,
    reports: reports.items,
    olderReports: reports.next !== null,
  };
}

async function loadModel(signal) {
  try {
    store.model = await reader.readJson("/v1/model", signal);
    renderModel(store.model);
    drawFreshness();
  } catch {
    // The model panel keeps what it showed; the forecast itself names the artifact.
  }
}

/** What the feed of the case shown asks of the page, and tells it. */
const view = {
  forecastPath,
  streamPath: () => casePath("/events"),
  etag: () => store.etag,
  replaying: () => store.asOf !== null,
  apply: applyForecast,
  confirmed() {
    store.confirmedAt = Date.now();
    store.failure = null;
    drawFreshness();
  },
  failed(failure) {
    store.failure = failure;
  },
  changed: drawFreshness,
};

// ---------------------------------------------------------------------------------------------
// Choosing a case, and the dates it is seen at

function caseFromHash() {
  const id = decodeURIComponent(location.hash.slice(1));
  return store.cases.some((c) => c.id === id) ? id : null;
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
  if (store.asOf !== null) params.set("as_of", store.asOf);
  if (store.since !== null) params.set("since", store.since);
  const query = params.size ? `?${params}` : "";
  history.replaceState(null, "", `${location.pathname}${query}${location.hash}`);
}

/** Ask for the forecast again, all of it: the view's dates changed. */
function refetch() {
  writeUrl();
  store.etag = null;
  feed.pollNow();
}

/** See the case as of `day` (YYYY-MM-DD; null or its now: its now). */
function viewAsOf(day) {
  const now = caseNow(currentCase(store));
  store.asOf = day === null || day === now ? null : day;
  refetch();
}

function loadCase(id) {
  feed?.close();
  showCase(store, id);
  $("case-select").value = id;
  renderCase(currentCase(store), store.asOf);
  drawHistory();
  feed = new Feed(reader, view);
  drawFreshness();
  feed.open();
}

function onHashChange() {
  const id = caseFromHash();
  if (id === null) {
    history.replaceState(null, "", `${location.search}#${encodeURIComponent(store.caseId)}`); // no such case
  } else if (id !== store.caseId) {
    store.asOf = null; // another case: seen at its own clock
    store.since = null;
    writeUrl();
    loadCase(id);
  }
}

/** Cases created since the page loaded appear when the picker is next focused. */
async function refreshCases() {
  let cases;
  try {
    cases = await reader.readAll(CASES);
  } catch {
    return; // the freshness line already reports a service that does not answer
  }
  const ids = (list) => list.map((c) => c.id).join("\n");
  if (ids(cases) === ids(store.cases)) return;
  store.cases = cases;
  fillCasePicker();
  if (store.caseId !== null) $("case-select").value = store.caseId;
}

function fillCasePicker() {
  const select = $("case-select");
  select.replaceChildren(...store.cases.map((c) => new Option(`${c.title} (${c.id})`, c.id)));
  select.disabled = store.cases.length === 0;
  if (store.cases.length === 0) select.append(new Option("No cases yet", ""));
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
    store.since = event.target.value;
    refetch();
  });
  // A page left for another (kept in the back-forward cache) must not keep its event stream:
  // browsers allow six connections to a server, and each cached page would hold one.
  window.addEventListener("pagehide", () => feed?.stopStream());
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) feed?.startStream();
  });
  window.addEventListener("hashchange", onHashChange);
  // The skip link moves focus without touching the URL's hash, which names the case.
  document.querySelector(".skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    $("main").focus();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") feed?.resetPolling();
  });
  // The browser knows when it leaves the network: a poll then fails at once and says so,
  // where an open stream may take a while to notice.
  window.addEventListener("offline", () => feed?.pollNow());
  // Back on the network (a laptop waking, Wi-Fi returning): catch up now, not at the next
  // retry, which may be half a minute away after a long outage.
  window.addEventListener("online", () => feed?.reconnect());
  let frame = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => store.caseId !== null && drawHistory());
  }).observe($("history-chart-box"));
  setInterval(drawClock, TIME.SECOND);
}

/** The contract's labels and thresholds, the cases and the indicators' labels; true once
 * loaded. The first read goes without a token: reads that need none keep the event stream. */
async function loadCatalog() {
  try {
    const [contract, cases, indicators] = await Promise.all([
      reader.readJson("/v1/contract"),
      reader.readAll(CASES),
      reader.readJson("/v1/indicators"),
    ]);
    useContract(contract);
    store.cases = cases;
    store.labels = new Map(indicators.map((i) => [i.id, i.label]));
    store.failure = null;
    return true;
  } catch (error) {
    store.failure = failureOf(error);
    drawFreshness();
    return false;
  }
}

async function start() {
  bindControls();
  for (let delay = POLL_FIRST; !(await loadCatalog()); delay = Math.min(delay * 2, POLL_MAX)) {
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  fillCasePicker();
  if (store.cases.length === 0) {
    setText($("case-title"), "No cases yet: create one through the API (POST /v1/cases).");
    return;
  }
  const id = caseFromHash() ?? store.cases[0].id;
  store.asOf = dateFromUrl("as_of");
  store.since = dateFromUrl("since");
  history.replaceState(null, "", `${location.search}#${encodeURIComponent(id)}`);
  loadCase(id);
}

start();
