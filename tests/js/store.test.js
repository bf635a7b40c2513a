// A stream's changes added to the dashboard's lists (app/static/store.js, withChanges).
import assert from "node:assert/strict";
import { test } from "node:test";

import { withChanges } from "../../app/static/store.js";

const point = (at) => ({ recorded_at: at, reports_used: 1 });
const report = (id, observed_on, retracted_at = null) => ({ id, observed_on, retracted_at });
const SHOWN = { history: 3, reports: 3 };

test("new points go first, newest first, once each", () => {
  const lists = { history: [point("t2"), point("t1")], olderHistory: false, reports: [] };
  const changes = { history: [point("t2"), point("t3"), point("t4")], reports: [] };
  const changed = withChanges({ ...lists, olderReports: false }, changes, SHOWN);
  assert.deepEqual(
    changed.history.map((p) => p.recorded_at),
    ["t4", "t3", "t2"],
  );
  assert.equal(changed.olderHistory, true); // t1 no longer shown
});

test("reports are added or replaced, and kept in observation order", () => {
  const lists = {
    history: [],
    olderHistory: false,
    reports: [report(2, "2022-07-10"), report(1, "2022-07-01")],
    olderReports: false,
  };
  const changes = {
    history: [],
    reports: [report(1, "2022-07-01", "2022-07-20T00:00:00Z"), report(3, "2022-07-05")],
  };
  const changed = withChanges(lists, changes, SHOWN);
  assert.deepEqual(
    changed.reports.map((r) => r.id),
    [2, 3, 1],
  );
  assert.equal(changed.reports[2].retracted_at, "2022-07-20T00:00:00Z");
  assert.equal(changed.olderReports, false);
});

test("a report older than those shown stays out while older ones are left out", () => {
  const lists = {
    history: [],
    olderHistory: false,
    reports: [report(5, "2022-07-10"), report(4, "2022-07-08")],
    olderReports: true,
  };
  const changes = { history: [], reports: [report(1, "2022-07-01", "2022-07-20T00:00:00Z")] };
  assert.deepEqual(
    withChanges(lists, changes, SHOWN).reports.map((r) => r.id),
    [5, 4],
  );
});
