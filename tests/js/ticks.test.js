// The chart's time axis (app/static/chart.js `timeTicks`): a pure function, run by `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { timeTicks } from "../../app/static/chart.js";

const DAY = 86_400_000;

test("a few days get one tick a day, the year said once", () => {
  const t0 = Date.UTC(2022, 6, 10, 9);
  const ticks = timeTicks(t0, t0 + 5 * DAY, 5); // 12-hour steps would make 10
  assert.deepEqual(
    ticks.map((tick) => tick.label),
    ["11 Jul", "12 Jul", "13 Jul", "14 Jul", "15 Jul"],
  );
  assert.deepEqual(
    ticks.map((tick) => tick.sub),
    ["2022", "", "", "", ""],
  );
  assert.ok(ticks.every((tick) => tick.t % DAY === 0)); // on midnight, UTC
});

test("hours are labelled by the clock, the day under the first of each", () => {
  const t0 = Date.UTC(2026, 10, 24, 22);
  const ticks = timeTicks(t0, t0 + 4 * 3_600_000, 5);
  assert.deepEqual(
    ticks.map((tick) => tick.label),
    ["22:00", "23:00", "00:00", "01:00", "02:00"],
  );
  assert.deepEqual(
    ticks.map((tick) => tick.sub),
    ["24 Nov", "", "25 Nov", "", ""],
  );
});

test("long spans step by months aligned to January, never more ticks than asked", () => {
  const t0 = Date.UTC(2021, 1, 15);
  const t1 = Date.UTC(2023, 1, 15);
  for (const count of [2, 4, 8, 12]) {
    const ticks = timeTicks(t0, t1, count);
    assert.ok(ticks.length <= count + 1, `${ticks.length} ticks for ${count}`);
    for (const tick of ticks) {
      const d = new Date(tick.t);
      assert.equal(d.getUTCDate(), 1);
      assert.ok(tick.t >= t0 && tick.t <= t1);
    }
  }
  const yearly = timeTicks(t0, t1, 3); // two years: yearly steps, on 1 January
  assert.deepEqual(
    yearly.map((tick) => tick.label),
    ["2022", "2023"],
  );
});
