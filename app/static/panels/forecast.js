// The case and its forecast: the title, one card per outcome, where the forecast starts from,
// and its warnings.

import { $, h, reportKey, setText, swatch } from "../dom.js";
import { OUTCOMES, OUTCOME_LABELS, THRESHOLDS, interval, percent, signed, utcDate } from "../format.js";
import { caseNow, todayUtc } from "../store.js";

const CLEARED = ["warnings", "drivers", "next", "reports-rows", "history-rows", "changes-rows", "alerts-rows"];

/** What each outcome means for this case, in its own names. */
function outcomeMeaning(outcome, c) {
  return {
    no_entry: `${c.state} supports the war without sending its own forces in`,
    false_flag: `a staged or fabricated incident blamed on ${c.target} serves as a pretext`,
    direct_invasion: `${c.state}'s own forces cross into ${c.target}`,
  }[outcome];
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

/** A new case on the page: its title, empty cards and panels, its dates' bounds. */
export function renderCase(c, asOf) {
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
  input.value = asOf ?? caseNow(c);
  $("since-input").min = c.opened_on;
  $("since-input").max = input.value;
  for (const id of CLEARED) $(id).replaceChildren();
  setText($("reports-count"), "");
}

/** The forecast's date and whose "now" it is, and each outcome's card. */
export function renderForecast(f, c, asOf) {
  const reports = f.reports_used === 1 ? "1 report" : `${f.reports_used} reports`;
  const seen =
    asOf !== null
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
  $("as-of-reset").disabled = asOf === null;
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
}

/** Where the forecast starts from (the prior and whose it is), and how far the plausible
 * range of the invasion base rate would move it. */
export function renderPrior(f) {
  const { prior, base_rates: shifts } = f;
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

/** A surprise, or a case unlike the reference cases (the thresholds are the service's). */
export function renderWarnings(f) {
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
