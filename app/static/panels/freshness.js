// The connection's state, how fresh the forecast is, and a warning when either is wrong.

import { $, setText } from "../dom.js";
import { age } from "../format.js";
import { STALE_AFTER } from "../transport.js";

/** `live`: the event stream is open; `confirmedAt`: when the service last confirmed the
 * forecast shown; `failure`: the last read's failure, if any. */
export function renderFreshness({ live, confirmedAt, failure }) {
  const now = Date.now();
  const connection = $("connection");
  const stale = confirmedAt !== null && now - confirmedAt > STALE_AFTER;
  const failed = failure && (failure.lost ? "lost" : "error");
  const mode = failed || (live ? "live" : confirmedAt === null ? "connecting" : "polling");
  const words = {
    lost: "connection lost",
    error: "service error",
    live: "live",
    polling: "polling",
    connecting: "connecting",
  };
  connection.dataset.state = mode;
  setText(connection, words[mode]);
  const updated = $("updated");
  updated.classList.toggle("stale", stale || Boolean(failure));
  setText(updated, confirmedAt === null ? "not yet updated" : `updated ${age(now - confirmedAt)} ago`);
  // The alert's text changes only when the trouble does: each change is announced.
  const warning = $("connection-warning");
  const message = failure
    ? `Not updating: ${failure.text}. The page shows what the service last sent, and keeps trying.`
    : stale
      ? "No word from the service for over a minute: the forecast may be out of date."
      : "";
  warning.hidden = message === "";
  setText(warning, message);
}
