// The thumbs bench: one task at a time from the API; each completion gets thumbs up, thumbs down
// or a flag, by mouse (the card's buttons) or keys (U, D, F on the focused card; ↑/↓ between
// cards; Enter submits once every completion is judged; S skips; ? instructions).
//
// The judgement lives in thumbs-state.js (pure), the network in api-client.js (retries, and the
// pending judgement kept in the browser until the server has it), the prompt's drawing in
// conversation-view.js. No inline script: everything comes in data- attributes of [data-thumbs-bench].

import { ApiClient, PendingStore, assignmentUrl } from "./api-client.js";
import { renderText } from "./cards.js";
import { renderPrompt } from "./conversation-view.js";
import { ThumbsState } from "./thumbs-state.js";

const KEY_VERDICTS = { u: "up", d: "down", f: "flag" };
const LABELS = { up: "Thumbs up", down: "Thumbs down", flag: "Flagged as nonsense" };

class ThumbsBench {
  constructor(root) {
    this.root = root;
    const data = root.dataset;
    this.instructionsVersion = data.instructionsVersion;
    this.urls = { next: data.nextUrl, ranking: data.rankingUrl, skip: data.skipUrl };
    const q = (selector) => root.querySelector(selector);
    this.el = {
      task: q("[data-task]"),
      empty: q("[data-empty]"),
      status: q("[data-status]"),
      prompt: q("[data-prompt]"),
      list: q("[data-thumbs-list]"),
      submit: q('[data-action="submit"]'),
      skip: q('[data-action="skip"]'),
      left: q("[data-left]"),
      count: q("[data-session-count]"),
      panel: q("[data-instructions]"),
      panelButton: q('[data-action="instructions"]'),
      announce: q("[data-announce]"),
      template: q("[data-card-template]"),
    };
    this.api = new ApiClient({ csrf: data.csrf, onInflight: (n) => (root.dataset.inflight = String(n)) });
    this.store = new PendingStore(safeLocalStorage(), `labelhub:pending:${data.user}:${data.project}`);
    this.task = null;
    this.state = null;
    this.busy = false;
    this.doneThisSession = 0;
  }

  start() {
    this.root.addEventListener("click", (event) => this.onClick(event));
    document.addEventListener("keydown", (event) => this.onKey(event));
    window.addEventListener("online", () => this.api.retryNow());
    const pending = this.store.load(this.urls.ranking);
    if (pending) this.send(pending);
    else this.loadNext();
  }

  async loadNext() {
    this.setBusy(true);
    const response = await this.api.nextTask(this.urls.next, ({ offline, status }) =>
      this.showStatus(offline ? "You are offline — will load the next task when the connection is back."
        : `The server had a problem (${status}) — trying again…`, "offline"));
    if (response.status === 204) {
      this.task = this.state = null;
      this.el.task.hidden = true;
      this.el.empty.hidden = false;
      this.setBusy(false);
      return;
    }
    if (!response.ok) {
      this.showFailure(response);
      return;
    }
    const task = await response.json();
    if (task.instructions_version != null && String(task.instructions_version) !== this.instructionsVersion) {
      window.location.reload(); // the instructions changed: the page shows them again first
      return;
    }
    this.task = task;
    this.state = new ThumbsState(task.completions.map((completion) => completion.id));
    this.show();
  }

  show() {
    const { prompt, completions } = this.task;
    renderPrompt(this.el.prompt, prompt);
    this.cards = completions.map((completion, index) => this.makeCard(completion, index + 1));
    this.el.list.replaceChildren(...this.cards);
    this.el.empty.hidden = true;
    this.el.task.hidden = false;
    this.shownAt = performance.now();
    this.setBusy(false);
    window.scrollTo({ top: 0 });
    this.cards[0]?.focus({ preventScroll: true });
  }

  makeCard(completion, position) {
    const card = this.el.template.content.firstElementChild.cloneNode(true);
    card.dataset.completionId = String(completion.id);
    card.querySelector("[data-position]").textContent = String(position);
    const text = card.querySelector("[data-text]");
    text.id = `completion-text-${completion.id}`;
    card.setAttribute("aria-describedby", text.id);
    renderText(text, completion.text);
    return card;
  }

  render() {
    for (const card of this.cards ?? []) {
      const verdict = this.state?.verdictOf(card.dataset.completionId);
      card.dataset.verdict = verdict ?? "";
      card.setAttribute("aria-label", `Completion ${card.querySelector("[data-position]").textContent}: ${verdict ? LABELS[verdict] : "not judged yet"}`);
      for (const button of card.querySelectorAll("[data-action]")) {
        button.setAttribute("aria-pressed", String(button.dataset.action === verdict));
        button.disabled = this.busy;
      }
    }
    const left = this.state ? this.state.remaining().length : 0;
    this.el.left.textContent = left ? `${left} left to judge` : "All judged";
    this.el.submit.disabled = this.busy || !this.state?.isComplete();
    this.el.skip.disabled = this.busy;
  }

  judge(card, verdict) {
    if (this.busy || !card || !this.state) return;
    const result = this.state.set(card.dataset.completionId, verdict);
    if (!result.changed) return;
    this.render();
    this.say(result.message);
    if (this.state.verdictOf(card.dataset.completionId)) {
      // On to the next completion still to judge, so a keyboard labeler can go U, D, U… then Enter.
      const next = this.state.nextUnjudged(card.dataset.completionId);
      const target = next == null ? this.el.submit : this.cardOf(next);
      target.focus();
      target.scrollIntoView?.({ block: "nearest" });
    }
  }

  cardOf(id) {
    return this.cards.find((card) => card.dataset.completionId === String(id));
  }

  submit() {
    if (this.busy || !this.task) return;
    if (!this.state.isComplete()) {
      this.say(`Judge every completion first: ${this.state.remaining().length} left.`);
      return;
    }
    const assignment = this.task.assignment;
    this.send({
      kind: "submit", method: "POST", url: assignmentUrl(this.urls.ranking, assignment), assignment,
      body: { ...this.state.toBody(), duration_ms: Math.max(1, Math.round(performance.now() - this.shownAt)),
              instructions_version: this.task.instructions_version },
    });
  }

  async send(pending) {
    this.store.save(pending);
    this.setBusy(true);
    const response = await this.api.sendRanking(pending, ({ offline, status }) =>
      this.showStatus(offline ? "You are offline — will resubmit as soon as the connection is back."
        : `The server had a problem (${status}) — will resubmit.`, "offline"));
    if (response.ok) {
      this.store.clear();
      this.showStatus("");
      this.doneThisSession += 1;
      this.el.count.textContent = String(this.doneThisSession);
      this.say(`Submitted. ${this.doneThisSession} done this session.`);
      this.loadNext();
    } else if (response.status === 409 || response.status === 404) {
      this.store.clear();
      this.showStatus("This task was already closed (submitted, skipped or expired): here is the next one.", "error");
      this.loadNext();
    } else if (response.status === 400) {
      this.store.clear();
      this.showFailure(response);
      if (this.task) this.setBusy(false);
      else this.loadNext();
    } else {
      this.showFailure(response);
    }
  }

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

  onClick(event) {
    const button = event.target.closest("[data-action]");
    if (!button || !this.root.contains(button)) return;
    const action = button.dataset.action;
    if (action in LABELS) this.judge(button.closest("[data-completion-id]"), action);
    else if (action === "submit") this.submit();
    else if (action === "skip") this.skip();
    else if (action === "instructions") this.toggleInstructions();
    else if (action === "close-instructions") this.toggleInstructions(false);
  }

  onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const target = event.target instanceof Element ? event.target : document.body;
    if (target.closest("input, textarea, select, [contenteditable]")) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "?") {
      event.preventDefault();
      this.toggleInstructions();
      return;
    }
    if (!this.el.panel.hidden) {
      if (key === "Escape") this.toggleInstructions(false);
      return;
    }
    if (!this.state || this.el.task.hidden) return;
    const card = target.closest("[data-completion-id]");
    if (key === "ArrowUp" || key === "ArrowDown") {
      const cards = this.cards;
      const next = card ? cards[cards.indexOf(card) + (key === "ArrowUp" ? -1 : 1)] : cards[0];
      if (next) {
        event.preventDefault();
        next.focus();
        next.scrollIntoView?.({ block: "nearest" });
      }
    } else if (key === "Enter") {
      if (target.closest("button, a, summary") && !target.closest('[data-action="submit"]')) return;
      event.preventDefault();
      this.submit();
    } else if (key === "s") {
      event.preventDefault();
      this.skip();
    } else if (key in KEY_VERDICTS) {
      event.preventDefault();
      if (card) this.judge(card, KEY_VERDICTS[key]);
      else this.say("Focus a completion first (Tab or arrow keys).");
    }
  }

  setBusy(busy) {
    this.busy = busy;
    this.root.classList.toggle("is-busy", busy);
    this.render();
  }

  async showFailure(response) {
    let detail = "";
    try {
      detail = (await response.json()).detail || "";
    } catch {
      // not JSON
    }
    if (response.status === 403 || response.status === 401) {
      this.showStatus("You are signed out. Log in again in another tab; your judgement is kept in this browser.", "error");
    } else {
      this.showStatus(`Something went wrong (${response.status})${detail ? `: ${detail}` : ""}.`, "error");
    }
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

function safeLocalStorage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

const root = document.querySelector("[data-thumbs-bench]");
if (root) new ThumbsBench(root).start();
