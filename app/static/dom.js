// Building the page: element lookup and creation, text that changes only when it must, and
// the small SVG keys (an outcome's line, a report's marker) that several panels draw.

import { DASHES } from "./chart.js";

export const $ = (id) => document.getElementById(id);

/** Set a node's text only when it changes: screen readers announce live regions on change. */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

/** An outcome's line, as the chart draws it. */
export function swatch(outcome) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "swatch");
  svg.setAttribute("viewBox", "0 0 28 10");
  svg.setAttribute("aria-hidden", "true");
  svg.innerHTML =
    `<line class="line-casing" x1="1" y1="5" x2="27" y2="5" stroke-dasharray="${DASHES[outcome]}"/>` +
    `<line class="line line--${outcome}" x1="1" y1="5" x2="27" y2="5" stroke-dasharray="${DASHES[outcome]}"/>`;
  return svg;
}

/** A report's marker, as the chart draws it. */
export function reportKey() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "swatch swatch--report");
  svg.setAttribute("viewBox", "0 0 12 12");
  svg.setAttribute("aria-hidden", "true");
  svg.innerHTML = '<path class="report-marker--present" d="M6,1L11,11L1,11Z"/>';
  return svg;
}

/** A section with nothing to list says why, in a sentence. */
export function showEmpty(id, sentence) {
  $(id).replaceChildren(h("p", { class: "empty" }, sentence));
}
