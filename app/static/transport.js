// Talking to the service: reads (with the read token when the service asks for one), and the
// forecast feed that keeps a page current, by the server's event stream and by polling with
// ETags (the fallback, and the only way when reads need a token: EventSource sends no header).

import { TIME } from "./format.js";

export const POLL_FIRST = 2 * TIME.SECOND;
export const POLL_MAX = 30 * TIME.SECOND;
const POLL_GROWTH = 1.5;
const STREAM_RETRY_FIRST = 2 * TIME.SECOND;
const STREAM_RETRY_MAX = 60 * TIME.SECOND;
export const STALE_AFTER = 2 * POLL_MAX;
export const TOKEN_KEY = "escalation-forecast.read-token";

export class HttpError extends Error {
  constructor(status, detail) {
    super(`the service answered ${status}${detail ? `: ${detail}` : ""}`);
    this.status = status;
  }
}

export async function errorFrom(response) {
  let detail = "";
  try {
    const body = await response.json();
    detail = body.detail?.[0]?.msg ?? ""; // every error: {"detail": [{"loc", "msg", "type"}]}
  } catch {
    // not JSON: the status says enough
  }
  return new HttpError(response.status, detail);
}

/** What went wrong, for people: no answer at all (the connection is lost), or a bad one. */
export function failureOf(error) {
  if (error instanceof HttpError) return { lost: false, text: error.message };
  return { lost: true, text: "the service cannot be reached" };
}

/** Reads from the service. Once it refuses a read without a token, every read sends the one
 * kept for the session, and waits on `askForToken` while it is missing or refused. */
export class Reader {
  constructor({ askForToken, onTokenNeeded }) {
    this.needsToken = false;
    this.askForToken = askForToken;
    this.onTokenNeeded = onTokenNeeded;
  }

  async read(path, { signal, headers = {} } = {}) {
    for (;;) {
      const sent = { Accept: "application/json", ...headers };
      const token = this.needsToken ? sessionStorage.getItem(TOKEN_KEY) : null;
      if (token) sent.Authorization = `Bearer ${token}`;
      const response = await fetch(path, { headers: sent, signal, cache: "no-store" });
      if (response.status !== 401) return response;
      if (!this.needsToken) {
        this.needsToken = true;
        this.onTokenNeeded();
      }
      const stored = sessionStorage.getItem(TOKEN_KEY);
      if (stored && stored !== token) continue; // sent before the token was known: send it now
      if (token) sessionStorage.removeItem(TOKEN_KEY); // refused
      await this.askForToken(
        token
          ? "The token was refused: enter the current one."
          : "Reads on this service need its token.",
      );
    }
  }

  /** A successful answer; an HttpError for any other. */
  async readOk(path, signal) {
    const response = await this.read(path, { signal });
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  async readJson(path, signal) {
    return (await this.readOk(path, signal)).json();
  }

  /** One page of a list: its items, and the next page's address (null at the end). */
  async readPage(path, signal) {
    const response = await this.readOk(path, signal);
    return { items: await response.json(), next: nextLink(response.headers.get("Link")) };
  }

  /** Every item of a list, page after page (each next page asked of this page's origin: a
   * proxy in front of the service may not have told it the name it is reached by). */
  async readAll(path, signal) {
    const items = [];
    for (let next = path; next !== null; ) {
      const page = await this.readPage(next, signal);
      items.push(...page.items);
      const link = page.next === null ? null : new URL(page.next, location.href);
      next = link === null ? null : link.pathname + link.search;
    }
    return items;
  }
}

/** The address a `Link` header (RFC 8288) gives as rel="next", or null. */
export function nextLink(header) {
  for (const part of (header ?? "").split(",")) {
    const match = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (match && /(^|;)\s*rel="?next"?\s*(;|$)/.test(match[2])) return match[1];
  }
  return null;
}

/** A stream event's id is the forecast's ETag; quote it if the server did not. */
function asEtag(id) {
  return id.startsWith('"') || id.startsWith("W/") ? id : `"${id}"`;
}

/** One case's forecast, kept current: the event stream brings each change, polls confirm it
 * (and bring it alone when there is no stream), backing off while nothing changes.
 *
 * `view` says what to ask for and takes what comes: `forecastPath()` and `streamPath()`,
 * `etag()` of the forecast shown, `replaying()` (a past date: the stream's "now" is not it),
 * `apply(etag, forecast, signal)` (true when it was new), `confirmed()`, `failed(failure)`
 * and `changed()` (the connection's state, for the freshness line). */
export class Feed {
  constructor(reader, view) {
    this.reader = reader;
    this.view = view;
    this.controller = new AbortController();
    this.pollDelay = POLL_FIRST;
    this.pollTimer = null;
    this.stream = null;
    this.streamOpen = false;
    this.streamRetry = STREAM_RETRY_FIRST;
    this.streamTimer = null;
    this.changes = null; // the stream's last `changes`, until its forecast arrives
    this.failing = false;
  }

  get signal() {
    return this.controller.signal;
  }

  /** Follow the case: its stream, and a first poll now. */
  open() {
    this.startStream();
    this.schedulePoll(0);
  }

  /** Stop following: requests aborted, stream closed, no more polls. */
  close() {
    this.controller.abort();
    this.stopStream();
    clearTimeout(this.pollTimer);
  }

  /** The longest wait between polls. While the stream is live it brings every change, so
   * polls only confirm; without it, polls are all there is and a new report must show within
   * 2 s. */
  pollCeiling() {
    return this.streamOpen || this.failing ? POLL_MAX : POLL_FIRST;
  }

  schedulePoll(delay) {
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => this.poll(), delay);
  }

  async poll() {
    const { signal } = this;
    let changed = false;
    try {
      const etag = this.view.etag();
      const headers = etag ? { "If-None-Match": etag } : {};
      const response = await this.reader.read(this.view.forecastPath(), { signal, headers });
      if (response.status === 304) {
        this.confirm();
      } else if (response.ok) {
        const forecast = await response.json();
        this.confirm(); // the forecast is current now, before the timeline and reports arrive
        changed = await this.view.apply(response.headers.get("ETag"), forecast, signal);
      } else {
        throw await errorFrom(response);
      }
    } catch (error) {
      if (signal.aborted) return;
      this.failing = true;
      this.view.failed(failureOf(error));
    }
    if (signal.aborted) return;
    this.pollDelay = changed ? POLL_FIRST : Math.min(this.pollDelay * POLL_GROWTH, this.pollCeiling());
    this.schedulePoll(this.pollDelay);
    this.view.changed();
  }

  confirm() {
    this.failing = false;
    this.view.confirmed();
  }

  /** Poll again soon, and often: the forecast changed, or the page was out of sight. */
  resetPolling() {
    this.pollDelay = POLL_FIRST;
    this.schedulePoll(POLL_FIRST);
  }

  /** Poll at once: the stream that was bringing changes stopped (is the service there?), or
   * the network came back, or the page now asks for another date. */
  pollNow() {
    this.pollDelay = POLL_FIRST;
    this.schedulePoll(0);
  }

  startStream() {
    this.streamTimer = null;
    if (this.reader.needsToken || !("EventSource" in window)) return;
    const source = new EventSource(this.view.streamPath());
    const { signal } = this;
    this.stream = source;
    source.addEventListener("open", () => {
      this.streamOpen = true;
      this.streamRetry = STREAM_RETRY_FIRST;
      this.confirm();
    });
    // What changed comes just before the forecast it leads to (its `until`).
    source.addEventListener("changes", (event) => {
      this.changes = JSON.parse(event.data);
    });
    source.addEventListener("forecast", async (event) => {
      this.confirm();
      const etag = asEtag(event.lastEventId);
      const changes = this.changes !== null && asEtag(this.changes.until) === etag ? this.changes : null;
      this.changes = null;
      // The stream brings the case's now; a page seen as of another date replays that date
      // (a report known then may just have been entered).
      if (this.view.replaying()) this.pollNow();
      else if (await this.view.apply(etag, JSON.parse(event.data), signal, changes))
        this.resetPolling();
    });
    source.addEventListener("error", () => {
      const wasOpen = this.streamOpen;
      this.streamOpen = false;
      // CONNECTING: the browser reconnects by itself (the server's `retry`). CLOSED: it gave
      // up (an error status, or no such endpoint): try again later, less and less often.
      if (source.readyState === EventSource.CLOSED) {
        this.stream = null;
        this.streamTimer = setTimeout(() => this.startStream(), this.streamRetry);
        this.streamRetry = Math.min(this.streamRetry * 2, STREAM_RETRY_MAX);
      }
      if (wasOpen) this.pollNow();
      this.view.changed();
    });
  }

  stopStream() {
    clearTimeout(this.streamTimer);
    this.streamTimer = null;
    this.stream?.close();
    this.stream = null;
    this.streamOpen = false;
  }

  /** Back on the network: a stream that is not open starts again, and a poll goes now. */
  reconnect() {
    if (!this.streamOpen) {
      this.stopStream();
      this.startStream();
    }
    this.pollNow();
  }
}
