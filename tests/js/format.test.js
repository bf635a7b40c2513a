// The dashboard's formatting (app/static/format.js): pure functions, run by `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  OUTCOMES,
  OUTCOME_LABELS,
  THRESHOLDS,
  age,
  daysSince,
  deliveryText,
  interval,
  percent,
  reportValue,
  ruleEvidence,
  ruleText,
  signed,
  useContract,
  utcDate,
  utcDateTime,
} from "../../app/static/format.js";

const CONTRACT = {
  outcomes: [
    { id: "no_entry", label: "No entry" },
    { id: "false_flag", label: "False flag" },
    { id: "direct_invasion", label: "Direct invasion" },
  ],
  thresholds: { reliable_pareto_k: 0.7, surprise_z: -2.33 },
};

test("the contract fills the outcomes, labels and thresholds in place", () => {
  useContract(CONTRACT);
  assert.deepEqual(OUTCOMES, ["no_entry", "false_flag", "direct_invasion"]);
  assert.equal(OUTCOME_LABELS.false_flag, "False flag");
  assert.equal(THRESHOLDS.reliable_pareto_k, 0.7);
  useContract(CONTRACT); // again: no outcome twice
  assert.equal(OUTCOMES.length, 3);
});

test("a probability is whole percent and never claims exactly 0 or 100", () => {
  assert.equal(percent(0.474), "47%");
  assert.equal(percent(0.001), "<1%");
  assert.equal(percent(0), "0%");
  assert.equal(percent(0.999), ">99%");
  assert.equal(percent(1), "100%");
  assert.equal(interval(0.36, 0.59), "36\u201359%");
});

test("a signed number uses a true minus and no sign on zero", () => {
  assert.equal(signed(0.4213), "+0.42");
  assert.equal(signed(-0.31), "\u22120.31");
  assert.equal(signed(-0.001), "0.00");
  assert.equal(signed(1.5, 1), "+1.5");
});

test("a report's value is present, absent or the source's probability", () => {
  assert.equal(reportValue(1), "present");
  assert.equal(reportValue(0), "absent");
  assert.equal(reportValue(0.3), "30% likely");
});

test("ages and dates are short and in UTC", () => {
  assert.equal(age(-5), "0 s");
  assert.equal(age(12_000), "12 s");
  assert.equal(age(5 * 60_000), "5 min");
  assert.equal(age(3 * 3_600_000), "3 h");
  assert.equal(age(1234 * 86_400_000), "1,234 d");
  const now = Date.UTC(2026, 10, 24, 21, 40);
  assert.equal(daysSince("2026-11-24", now), "today");
  assert.equal(daysSince("2026-11-21", now), "3 d ago");
  assert.equal(utcDate(now), "24 Nov 2026");
  assert.equal(utcDateTime(now), "24 Nov 2026 21:40 UTC");
});

test("an alert rule and its deliveries read as sentences", () => {
  useContract(CONTRACT);
  const rule = { outcome: "direct_invasion", direction: "up", threshold: 0.3, band: 0.05 };
  assert.equal(ruleText(rule), "Direct invasion rises to 30% (re-arms below 25%)");
  const falling = { ...rule, direction: "down", threshold: 0.125 };
  assert.equal(ruleText(falling), "Direct invasion falls to 12.5% (re-arms above 17.5%)");
  assert.equal(ruleEvidence({ min_reports: 0 }), "any change, ageing included");
  assert.equal(ruleEvidence({ min_reports: 1 }), "a report added or retracted");
  assert.equal(ruleEvidence({ min_reports: 3 }), "3 reports added or retracted");
  assert.equal(deliveryText(null), "never fired");
  const sent = { state: "delivered", attempts: 1, last_status: 200, last_error: null };
  assert.equal(deliveryText(sent), "delivered (HTTP 200)");
  const retrying = { state: "pending", attempts: 3, last_status: 503, last_error: null };
  assert.equal(deliveryText(retrying), "retrying: 3 attempts, HTTP 503");
  const refused = { state: "pending", attempts: 2, last_status: null, last_error: "refused" };
  assert.equal(deliveryText(refused), "retrying: 2 attempts, refused");
  assert.equal(deliveryText({ state: "pending", attempts: 0 }), "sending");
  assert.equal(deliveryText({ state: "abandoned", attempts: 12 }), "abandoned after 12 attempts");
});
