// The model served: its artifact, when it was fitted, its checks and its out-of-sample skill.

import { $, h, setText } from "../dom.js";
import { age, utcDateTime } from "../format.js";

/** `+7% (95% −3% to +17%)`: a skill with its interval. */
function skillText(s) {
  const pct = (x) => `${x >= 0 ? "+" : "−"}${Math.abs(Math.round(x * 100))}%`;
  return `${pct(s.value)} (95% ${pct(s.lower)} to ${pct(s.upper)})`;
}

function aucText(a) {
  if (!a) return "undefined (no such case)";
  return `${a.value.toFixed(2)} (${a.lower.toFixed(2)}\u2013${a.upper.toFixed(2)})`;
}

export function renderModel(m) {
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
  renderModelAge(m);
}

/** How long ago the model was fitted (kept current by the page's clock). */
export function renderModelAge(m) {
  const fitted = $("model").querySelector('[data-role="fitted-age"]');
  if (fitted && m) setText(fitted, `${age(Date.now() - Date.parse(m.fitted_at))} ago`);
}
