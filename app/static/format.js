// Formatting shared by the dashboard and its chart: pure functions, no DOM.

/** The outcomes, their labels and the thresholds of a doubtful forecast, as the service states
 * them (`GET /v1/contract`): filled in by `useContract` before anything is drawn. */
export const OUTCOMES = [];
export const OUTCOME_LABELS = {};
export const THRESHOLDS = { reliable_pareto_k: Infinity, surprise_z: -Infinity };

export function useContract(contract) {
  OUTCOMES.splice(0, OUTCOMES.length, ...contract.outcomes.map((o) => o.id));
  for (const o of contract.outcomes) OUTCOME_LABELS[o.id] = o.label;
  Object.assign(THRESHOLDS, contract.thresholds);
}

const MINUS = "\u2212"; // a true minus sign: as wide as "+", so signed columns line up
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A probability as whole percent ("47%"); the extremes say they are not exactly 0 or 100. */
export function percent(p) {
  const whole = Math.round(p * 100);
  if (whole === 0 && p > 0) return "<1%";
  if (whole === 100 && p < 1) return ">99%";
  return `${whole}%`;
}

/** A 90% interval as "36–59%". */
export function interval(lower, upper) {
  return `${percent(lower).replace("%", "")}\u2013${percent(upper)}`;
}

/** A signed number with a fixed number of decimals ("+0.42", "−0.31"). */
export function signed(x, decimals = 2) {
  const text = Math.abs(x).toFixed(decimals);
  if (Number(text) === 0) return text;
  return (x < 0 ? MINUS : "+") + text;
}

/** A report's value: present, absent, or the source's own probability. */
export function reportValue(value) {
  if (value === 1) return "present";
  if (value === 0) return "absent";
  return `${Math.round(value * 100)}% likely`;
}

/** How long ago, coarse and short ("12 s", "5 min", "3 h", "4 d"). */
export function age(ms) {
  const elapsed = Math.max(0, ms);
  if (elapsed < MINUTE) return `${Math.floor(elapsed / SECOND)} s`;
  if (elapsed < HOUR) return `${Math.floor(elapsed / MINUTE)} min`;
  if (elapsed < DAY) return `${Math.floor(elapsed / HOUR)} h`;
  return `${Math.floor(elapsed / DAY).toLocaleString("en-GB")} d`;
}

/** Days from a calendar date ("2022-06-30") to today, both in UTC ("today", "3 d ago"). */
export function daysSince(isoDate, now) {
  const days = Math.floor((now - Date.parse(`${isoDate}T00:00:00Z`)) / DAY);
  return days <= 0 ? "today" : `${days.toLocaleString("en-GB")} d ago`;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** "24 Nov 2026" in UTC. */
export function utcDate(ms) {
  const d = new Date(ms);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

/** "24 Nov 2026 21:40 UTC". */
export function utcDateTime(ms) {
  const d = new Date(ms);
  return `${utcDate(ms)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

/** "21:40" in UTC. */
export function utcClock(ms) {
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** "24 Nov" in UTC. */
export function utcDayMonth(ms) {
  const d = new Date(ms);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
}

/** "Nov" in UTC. */
export function utcMonth(ms) {
  return MONTHS[new Date(ms).getUTCMonth()];
}

export const TIME = { SECOND, MINUTE, HOUR, DAY };

/** An alert rule in words: "Direct invasion rises to 30% (re-arms below 25%)". */
export function ruleText(rule) {
  const up = rule.direction === "up";
  const rearm = up ? rule.threshold - rule.band : rule.threshold + rule.band;
  const moves = up ? "rises to" : "falls to";
  const back = up ? "below" : "above";
  const exact = (p) => `${Math.round(p * 1000) / 10}%`;
  return `${OUTCOME_LABELS[rule.outcome]} ${moves} ${exact(rule.threshold)} (re-arms ${back} ${exact(rearm)})`;
}

/** What a rule needs of a write to fire. */
export function ruleEvidence(rule) {
  if (rule.min_reports === 0) return "any change, ageing included";
  return rule.min_reports === 1 ? "a report added or retracted" : `${rule.min_reports} reports added or retracted`;
}

/** A delivery's state in words: "delivered (HTTP 200)", "retrying: 3 attempts, HTTP 503". */
export function deliveryText(delivery) {
  if (delivery === null) return "never fired";
  const status = delivery.last_status === null ? "" : `HTTP ${delivery.last_status}`;
  const tries = `${delivery.attempts} attempt${delivery.attempts === 1 ? "" : "s"}`;
  if (delivery.state === "delivered") return `delivered (${status})`;
  if (delivery.state === "pending") return delivery.attempts ? `retrying: ${tries}, ${status || delivery.last_error}` : "sending";
  return `${delivery.state} after ${tries}`;
}
