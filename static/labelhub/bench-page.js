// What the ranking bench (rank.js) and the thumbs bench (thumbs.js) share: the page's settings from
// data- attributes, the next task, sending the pending judgement until the server has it, skipping,
// the status line, the announcer and the instructions panel. Each bench subclasses BenchPage and
// adds its own cards and keys. The wording is kept in pure functions, tested in tests/js/.

import { ApiClient, PendingStore, assignmentUrl } from "./api-client.js";

/** The status line while the next task is being fetched again (`problem` from ApiClient). */
export function loadRetryNotice({ offline, status }) {
  return offline
    ? "You are offline — will load the next task when the connection is back."
    : `The server had a problem (${status}) — trying again…`;
}

/** The status line while a submission is being sent again; `what` says what will happen. */
export function sendRetryNotice({ offline, status }, what) {
  return offline
    ? `You are offline — ${what} as soon as the connection is back.`
    : `The server had a problem (${status}) — ${what}.`;
}

/** The status line for a failed request; `kept` names what stays saved in the browser. */
export function failureNotice(status, detail, kept) {
  if (status === 403 || status === 401) {
    return `You are signed out. Log in again in another tab; ${kept} is kept in this browser.`;
  }
  return `Something went wrong (${status})${detail ? `: ${detail}` : ""}.`;
}

/**
 * What the server's answer to a submission means: "stored"; "closed" (the task was submitted,
 * skipped or expired meanwhile); "invalid" (400: drop it); "failed" (keep it, e.g. signed out).
 */
export function submitOutcome({ ok, status }) {
  if (ok) return "stored";
  if (status === 409 || status === 404) return "closed";
  if (status === 400) return "invalid";
  return "failed";
}

export function safeLocalStorage() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled: pending submissions are kept in memory only
  }
}

export class BenchPage {
  /** `kept`: how the status line names the labeler's unsent work ("your ranking"). */
  constructor(root, { kept }) {
    this.root = root;
    this.kept = kept;
    const data = root.dataset;
    this.instructionsVersion = data.instructionsVersion;
    this.urls = { next: data.nextUrl, ranking: data.rankingUrl, skip: data.skipUrl };
    this.api = new ApiClient({ csrf: data.csrf, onInflight: (n) => (root.dataset.inflight = String(n)) });
    this.store = new PendingStore(safeLocalStorage(), `labelhub:pending:${data.user}:${data.project}`);
    this.task = null; // the current task from `tasks/next`
    this.pending = null; // the submission waiting for the server
    this.busy = false; // a request is in flight: the task is frozen
    this.doneThisSession = 0;
  }

  q(selector) {
    return this.root.querySelector(selector);
  }

  /** The elements both benches have; each adds its own. */
  commonElements() {
    const q = (selector) => this.q(selector);
    return {
      task: q("[data-task]"),
      empty: q("[data-empty]"),
      status: q("[data-status]"),
      prompt: q("[data-prompt]"),
      submit: q('[data-action="submit"]'),
      skip: q('[data-action="skip"]'),
      count: q("[data-session-count]"),
      panel: q("[data-instructions]"),
      panelButton: q('[data-action="instructions"]'),
      announce: q("[data-announce]"),
      template: q("[data-card-template]"),
    };
  }

  /** Listen to the page, then resend what an earlier visit left unsent, or load the next task. */
  start({ onClick, onKey }) {
    this.root.addEventListener("click", onClick);
    document.addEventListener("keydown", onKey);
    window.addEventListener("online", () => this.api.retryNow());
    const pending = this.store.load(this.urls.ranking);
    if (pending) {
      this.pending = pending;
      this.sendPending();
    } else {
      this.loadNext();
    }
  }

  /**
   * The next task, or null: none left (`nothingLeft()` is called), a failure (shown), or the
   * instructions changed since this page was opened (the page reloads to show them again first).
   */
  async fetchNextTask() {
    this.setBusy(true);
    const response = await this.api.nextTask(this.urls.next, (problem) =>
      this.showStatus(loadRetryNotice(problem), "offline"),
    );
    if (response.status === 204) {
      this.nothingLeft();
      return null;
    }
    if (!response.ok) {
      this.showFailure(response);
      return null;
    }
    const task = await response.json();
    if (task.instructions_version != null && String(task.instructions_version) !== this.instructionsVersion) {
      window.location.reload();
      return null;
    }
    return task;
  }

  /** The submission of the current task, with `body` (the bench's judgement). */
  submitTask(body) {
    const assignment = this.task.assignment;
    this.send({
      kind: "submit",
      method: "POST",
      url: assignmentUrl(this.urls.ranking, assignment),
      assignment,
      body: { ...body, duration_ms: this.elapsed(), instructions_version: this.task.instructions_version },
    });
  }

  /** Keep `pending` in the browser until the server has it, and send it. */
  send(pending) {
    this.pending = pending;
    this.store.save(pending);
    this.sendPending();
  }

  /** Send the pending submission until the server answers; the endpoint is idempotent, so one
   * the server did store before the connection dropped is not stored twice. */
  async sendPending() {
    this.setBusy(true);
    const pending = this.pending;
    const response = await this.api.sendRanking(pending, (problem) =>
      this.showStatus(sendRetryNotice(problem, this.resendWhat(pending)), "offline"),
    );
    this.answered(response, pending);
  }

  /** What the status line promises while `pending` is being sent again. */
  resendWhat() {
    return "will resubmit";
  }

  /** The server's answer to the submission `pending`. */
  answered(response, pending) {
    const outcome = submitOutcome(response);
    if (outcome === "stored") {
      this.clearPending();
      this.showStatus("");
      this.doneThisSession += 1;
      this.el.count.textContent = String(this.doneThisSession);
      this.say(`Submitted. ${this.doneThisSession} done this session.`);
      this.submitted(pending);
      this.loadNext();
    } else if (outcome === "closed") {
      this.clearPending();
      this.showStatus("This task was already closed (submitted, skipped or expired): here is the next one.", "error");
      this.loadNext();
    } else if (outcome === "invalid") {
      this.clearPending();
      this.showFailure(response);
      if (this.task) this.setBusy(false);
      else this.loadNext(); // a stale submission saved by an earlier visit: drop it, carry on
    } else {
      this.showFailure(response); // e.g. signed out: the submission stays saved in this browser
    }
  }

  /** After the server stored `pending` (before the next task loads). */
  submitted() {}

  async skip() {
    if (this.busy || !this.task) return;
    this.setBusy(true);
    try {
      const response = await this.api.skip(assignmentUrl(this.urls.skip, this.task.assignment));
      if (!response.ok && response.status !== 409) {
        this.showFailure(response);
        this.setBusy(false);
        return;
      }
    } catch {
      this.showStatus("You are offline: the task cannot be skipped right now.", "offline");
      this.setBusy(false);
      return;
    }
    this.say("Skipped.");
    this.loadNext();
  }

  clearPending() {
    this.pending = null;
    this.store.clear();
  }

  elapsed() {
    return Math.max(1, Math.round(performance.now() - this.shownAt));
  }

  async showFailure(response) {
    let detail = "";
    try {
      detail = (await response.json()).detail || "";
    } catch {
      // not JSON
    }
    this.showStatus(failureNotice(response.status, detail, this.kept), "error");
  }

  showStatus(text, kind = "") {
    this.el.status.textContent = text;
    this.el.status.dataset.kind = kind;
    this.el.status.hidden = !text;
  }

  say(text) {
    if (text) this.el.announce.textContent = text;
  }

  toggleInstructions(open = this.el.panel.hidden) {
    const panel = this.el.panel;
    if (open) {
      this.returnFocus = document.activeElement;
      panel.hidden = false;
      panel.focus();
    } else {
      panel.hidden = true;
      (this.returnFocus && document.contains(this.returnFocus) ? this.returnFocus : this.el.panelButton).focus();
    }
    this.el.panelButton.setAttribute("aria-expanded", String(open));
    document.body.classList.toggle("drawer-open", open);
  }
}
