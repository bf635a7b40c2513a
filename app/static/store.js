// What the dashboard knows: the cases, the indicators' labels, the model, and for the case
// shown its forecast and what goes with it. Plain data; the panels are drawn from it.

export function createStore() {
  return {
    cases: [],
    labels: new Map(), // indicator id -> label
    model: null,
    caseId: null,
    etag: null,
    forecast: null,
    asOf: null, // the date the page is seen as of (YYYY-MM-DD), null for the case's now
    since: null, // the date "what moved it" starts from, null for 30 days before the view
    timeline: {},
    changes: null,
    history: [], // newest first
    olderHistory: false, // whether older points exist than those in `history`
    reports: [], // newest observation first
    olderReports: false,
    listsEtag: null, // the forecast whose history and reports are held
    alerts: [],
    refreshes: 0, // numbers each refresh of history and reports, so a late answer cannot win
    confirmedAt: null, // when the service last confirmed that the forecast shown is current
    failure: null, // the last read's failure ({ lost, text }), null once one succeeds
  };
}

/** The store emptied of the case shown, for case `id`. */
export function showCase(store, id) {
  Object.assign(store, {
    caseId: id,
    etag: null,
    forecast: null,
    timeline: {},
    changes: null,
    history: [],
    olderHistory: false,
    reports: [],
    olderReports: false,
    listsEtag: null,
    alerts: [],
    confirmedAt: null,
    failure: null,
  });
}

export function currentCase(store) {
  return store.cases.find((c) => c.id === store.caseId);
}

export function todayUtc() {
  return new Date().toISOString().slice(0, 10);
}

/** A case's "now": its clock or today, never past its resolution (YYYY-MM-DD). */
export function caseNow(c) {
  const now = c.clock ?? todayUtc();
  return c.resolved_on && c.resolved_on < now ? c.resolved_on : now;
}

/** An indicator's label, for any panel that names one. */
export function labeller(store) {
  return (indicator) => store.labels.get(indicator) ?? indicator;
}

/** The case's lists with a stream's changes added (`event: changes`: new history points, oldest
 * first, and reports added or retracted, as stored now), each list still newest first and no
 * longer than `shown`. A report that would fall below the oldest one shown, while older ones
 * are left out, is left out too. */
export function withChanges(lists, changes, shown) {
  const seen = new Set(lists.history.map((point) => point.recorded_at));
  const points = changes.history.filter((point) => !seen.has(point.recorded_at)).reverse();
  const history = [...points, ...lists.history];
  const known = new Map(lists.reports.map((r) => [r.id, r]));
  const oldest = lists.reports.at(-1);
  for (const r of changes.reports) {
    if (known.has(r.id) || !lists.olderReports || oldest === undefined || newer(r, oldest))
      known.set(r.id, r);
  }
  const reports = [...known.values()].sort((a, b) => (newer(a, b) ? -1 : 1));
  return {
    history: history.slice(0, shown.history),
    olderHistory: lists.olderHistory || history.length > shown.history,
    reports: reports.slice(0, shown.reports),
    olderReports: lists.olderReports || reports.length > shown.reports,
  };
}

/** Whether report `a` comes before `b` newest first: a later observation, else a later id. */
function newer(a, b) {
  return a.observed_on === b.observed_on ? a.id > b.id : a.observed_on > b.observed_on;
}
