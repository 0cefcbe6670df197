// Autosave: every change a reader makes is sent to the server, and retried until it lands.
//
// Changes are keyed ("answer:quality", "mark:<uuid>", "position"): a newer change with the
// same key replaces an older one that has not been sent yet, so the server receives the
// latest value of everything, in order. Pending changes are also kept in localStorage, so a
// tab closed mid-save sends them the next time the reading is opened (the server's writes
// are idempotent, so sending one twice is harmless).
//
// A change the page holds back for a moment (free text is sent once the reader pauses)
// is a draft: `draft(key)` makes the indicator say "Saving…" until `put(key, …)` queues it,
// so "All changes saved" is only ever shown when the server has everything.

const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 15000];

/** Whether a failed request may succeed later (network trouble, server busy or failing). */
function isTransient(status) {
  return status === 0 || status === 408 || status === 429 || status >= 500;
}

export class SaveQueue {
  /**
   * @param {object} options
   * @param {string} options.storageKey  localStorage key for the changes not yet saved
   * @param {string} options.csrfToken   Django's CSRF token, sent as X-CSRFToken
   * @param {(state: string, detail: string) => void} options.onState  saved | saving | retrying | error
   * @param {(change: object, message: string) => void} [options.onRejected]  the server refused a change
   */
  constructor({ storageKey, csrfToken, onState, onRejected }) {
    this.storageKey = storageKey;
    this.csrfToken = csrfToken;
    this.onState = onState;
    this.onRejected = onRejected || (() => {});
    this.pending = new Map(); // key -> change, in insertion order
    this.drafts = new Set(); // keys changed on the page but not queued yet
    this.inFlight = null;
    this.attempt = 0;
    this.timer = null;
    this.waiters = [];
    this.lastError = "";
    this.restore();
    this.restored = [...this.pending.values()]; // what a previous visit left unsaved
  }

  /** Queue a change: `method url` with a JSON `body` (null for none). */
  put(key, method, url, body = null) {
    this.drafts.delete(key);
    this.pending.delete(key); // re-insert at the end: changes go out in the order they were made
    this.pending.set(key, { key, method, url, body });
    this.persist();
    this.lastError = "";
    this.kick();
  }

  /** A change to `key` exists on the page and will be `put` soon: not everything is saved. */
  draft(key) {
    if (this.drafts.has(key)) return;
    this.drafts.add(key);
    this.report();
  }

  /** Whether everything has reached the server. */
  get idle() {
    return this.pending.size === 0 && this.inFlight === null && this.drafts.size === 0;
  }

  /** Resolves when every queued change has been saved (or refused by the server).
   * Drafts are the page's to queue first (the workstation does so before it flushes). */
  flush() {
    if (this.pending.size === 0 && this.inFlight === null) return Promise.resolve();
    if (this.timer !== null) {
      // Waiting to retry: try again now rather than at the end of the back-off.
      clearTimeout(this.timer);
      this.timer = null;
      this.kick();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Send what is still pending with `keepalive` (the page is going away). */
  sendBeforeUnload() {
    for (const change of this.pending.values()) {
      fetch(change.url, this.requestInit(change, true)).catch(() => {});
    }
  }

  requestInit(change, keepalive = false) {
    const init = {
      method: change.method,
      credentials: "same-origin",
      headers: { "X-CSRFToken": this.csrfToken, Accept: "application/json" },
      keepalive,
    };
    if (change.body !== null) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(change.body);
    }
    return init;
  }

  kick() {
    if (this.inFlight !== null || this.timer !== null) return;
    const next = this.pending.values().next();
    if (next.done) {
      this.report();
      const waiters = this.waiters.splice(0);
      waiters.forEach((resolve) => resolve());
      return;
    }
    const change = next.value;
    this.pending.delete(change.key);
    this.inFlight = change;
    this.report();
    this.send(change);
  }

  async send(change) {
    let status = 0;
    let message = "";
    try {
      const response = await fetch(change.url, this.requestInit(change));
      status = response.status;
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        message = data.error || `${response.status} ${response.statusText}`;
      }
    } catch (error) {
      message = "The server cannot be reached.";
    }
    this.inFlight = null;
    if (status >= 200 && status < 300) {
      if (this.attempt > 0) this.lastError = ""; // the failure we were retrying is over
      this.attempt = 0;
    } else if (isTransient(status)) {
      // Put it back in front unless a newer change with the same key arrived meanwhile.
      if (!this.pending.has(change.key)) {
        this.pending = new Map([[change.key, change], ...this.pending]);
      }
      const delay = RETRY_DELAYS_MS[Math.min(this.attempt, RETRY_DELAYS_MS.length - 1)];
      this.attempt += 1;
      this.lastError = message;
      this.persist();
      this.onState("retrying", `Not saved: ${message} Retrying…`);
      this.timer = setTimeout(() => {
        this.timer = null;
        this.kick();
      }, delay);
      return;
    } else {
      this.attempt = 0;
      this.lastError = message;
      this.onRejected(change, message);
    }
    this.persist();
    this.kick();
  }

  report() {
    if (this.timer !== null) return; // waiting to retry: "Not saved … Retrying" stays up
    if (this.pending.size || this.inFlight || this.drafts.size) this.onState("saving", "Saving…");
    else if (this.lastError) this.onState("error", `Not saved: ${this.lastError}`);
    else this.onState("saved", "All changes saved");
  }

  persist() {
    const unsaved = [...this.pending.values()];
    if (this.inFlight) unsaved.unshift(this.inFlight);
    try {
      if (unsaved.length) localStorage.setItem(this.storageKey, JSON.stringify(unsaved));
      else localStorage.removeItem(this.storageKey);
    } catch {
      // Private mode or full storage: the server copy is what counts.
    }
  }

  restore() {
    let saved = [];
    try {
      saved = JSON.parse(localStorage.getItem(this.storageKey) || "[]");
    } catch {
      saved = [];
    }
    for (const change of Array.isArray(saved) ? saved : []) {
      if (change && change.key && change.url && change.method) this.pending.set(change.key, change);
    }
  }

  /** Changes a previous visit left unsaved (restored from localStorage, sent or not since). */
  restoredChanges() {
    return this.restored;
  }
}
