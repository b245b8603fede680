// The labeling API as the page uses it: one request, or a request repeated until the server
// answers (a lost connection or a passing 5xx is retried with growing waits), and the ranking
// waiting to be sent, kept in the browser's storage so that a reload or a closed tab loses nothing.
// No DOM: the page passes in what it needs (fetch, storage, callbacks).

export const FIRST_RETRY_MS = 1000;
export const MAX_RETRY_MS = 15000;

/** The wait after `delay`: doubled, at most `max`. */
export function nextDelay(delay, max = MAX_RETRY_MS) {
  return Math.min(delay * 2, max);
}

/** An API URL of one assignment from its template, where 0 stands for the assignment id. */
export function assignmentUrl(template, assignmentId) {
  return template.replace("/0/", `/${assignmentId}/`);
}

export class ApiClient {
  /**
   * `csrf`: Django's CSRF token (session login). `onInflight(n)`: told how many requests are in
   * flight after each change (the page shows it as data-inflight, which the browser tests read).
   */
  constructor({ csrf = "", fetch: fetchImpl, onInflight = () => {}, firstDelayMs = FIRST_RETRY_MS, maxDelayMs = MAX_RETRY_MS } = {}) {
    this.csrf = csrf;
    this.fetch = fetchImpl ?? ((...args) => globalThis.fetch(...args));
    this.onInflight = onInflight;
    this.inflight = 0;
    this.firstDelayMs = firstDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.delayMs = firstDelayMs;
    this.wake = null;
    this.wakeEarly = false;
  }

  /** One attempt. Rejects (TypeError) when there is no connection; any HTTP answer resolves. */
  async request(method, url, body) {
    this.onInflight((this.inflight += 1));
    try {
      return await this.fetch(url, {
        method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": this.csrf },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } finally {
      this.onInflight((this.inflight -= 1));
    }
  }

  /** Repeats the request until the server answers with anything but a 5xx. Only for requests
   * that may safely be repeated: `next` returns the open task again, and sending the same ranking
   * twice stores it once. Before each wait, `onTrouble({offline, status})` lets the page say so. */
  async requestUntilAnswered(method, url, body, onTrouble = () => {}) {
    for (;;) {
      let response = null;
      try {
        response = await this.request(method, url, body);
      } catch {
        onTrouble({ offline: true, status: 0 });
      }
      if (response && response.status < 500) {
        this.delayMs = this.firstDelayMs;
        this.wakeEarly = false;
        return response;
      }
      if (response) onTrouble({ offline: false, status: response.status });
      await this.pause();
    }
  }

  /** Stop waiting and try again now (e.g. the browser says it is back online). Said just before
   * a wait begins, the wait is skipped. */
  retryNow() {
    if (this.wake) this.wake();
    else this.wakeEarly = true;
  }

  pause() {
    const delay = this.delayMs;
    this.delayMs = nextDelay(delay, this.maxDelayMs);
    if (this.wakeEarly) {
      this.wakeEarly = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, delay);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.wake === done) self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  nextTask(url, onTrouble) {
    return this.requestUntilAnswered("POST", url, undefined, onTrouble);
  }

  /** `pending`: `{method, url, body}` as kept by PendingStore. */
  sendRanking(pending, onTrouble) {
    return this.requestUntilAnswered(pending.method, pending.url, pending.body, onTrouble);
  }

  getJson(url, onTrouble) {
    return this.requestUntilAnswered("GET", url, undefined, onTrouble);
  }

  skip(url) {
    return this.request("POST", url);
  }
}

/** The ranking (or revision) not yet stored by the server, kept in `storage` (localStorage) under
 * `key`: one at a time, since the page waits for it before going on. Storage may refuse (private
 * mode, full): the page then keeps it in memory only. */
export class PendingStore {
  constructor(storage, key) {
    this.storage = storage;
    this.key = key;
  }

  save(pending) {
    try {
      this.storage?.setItem(this.key, JSON.stringify(pending));
    } catch {
      // kept in memory only
    }
  }

  /** `{kind: "submit"|"revise", method, url, assignment, body}` or null. */
  load(rankingUrlTemplate) {
    let pending = null;
    try {
      pending = JSON.parse(this.storage?.getItem(this.key) || "null");
    } catch {
      return null;
    }
    if (!pending || typeof pending !== "object" || pending.assignment == null || !pending.body) return null;
    // Saved by the page before revisions existed: `{assignment, body}`, always a first submission.
    return {
      kind: pending.kind === "revise" ? "revise" : "submit",
      method: pending.kind === "revise" ? "PUT" : "POST",
      url: pending.url || assignmentUrl(rankingUrlTemplate, pending.assignment),
      assignment: pending.assignment,
      body: pending.body,
    };
  }

  clear() {
    try {
      this.storage?.removeItem(this.key);
    } catch {
      // see save
    }
  }
}
