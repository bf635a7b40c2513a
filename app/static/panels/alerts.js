// The case's alert rules: what each watches for, whether it is armed, its last delivery.

import { $, h, setText } from "../dom.js";
import { deliveryText, ruleEvidence, ruleText, utcDateTime } from "../format.js";

function ruleState(rule) {
  if (rule.deleted_at) return `stopped by ${rule.deleted_by}`;
  return rule.armed ? "armed" : "fired: waits to re-arm";
}

export function renderAlerts(alerts) {
  const active = alerts.filter((rule) => !rule.deleted_at).length;
  setText($("alerts-count"), `(${active} active)`);
  const rows = alerts.map((rule) =>
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
