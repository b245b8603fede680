// The labeler's bench: the page wiring. One task at a time from the API, ranked by dragging (by the
// handle only, so that scrolling a long card on a phone never reorders it) or by keyboard alone;
// the labeler's recent rankings, each of which can be reopened, changed and saved again.
//
// The ranking itself lives in ranking-state.js (pure), the network in api-client.js, drawing in
// cards.js, dragging in drag.js. Everything the page needs from the server comes in data-
// attributes of [data-bench] (no inline script: the Content-Security-Policy allows none).

import { ApiClient, PendingStore, assignmentUrl } from "./api-client.js";
import { drawRanking, makeCard, renderText } from "./cards.js";
import { makeSortable } from "./drag.js";
import { duplicatesOf } from "./duplicates.js";
import { RankingState } from "./ranking-state.js";
import { drawRecent, entryForSubmitted } from "./recent.js";

const TEXT_KEYS = new Set(["j", "k", "t", "f", "s"]);
const RECENT_MAX = 50;

class Bench {
  constructor(root) {
    this.root = root;
    const data = root.dataset;
    this.allowTies = data.allowTies === "true";
    this.instructionsVersion = data.instructionsVersion;
    this.urls = { next: data.nextUrl, ranking: data.rankingUrl, skip: data.skipUrl, recent: data.myRankingsUrl };
    const q = (selector) => root.querySelector(selector);
    this.el = {
      task: q("[data-task]"),
      empty: q("[data-empty]"),
      status: q("[data-status]"),
      prompt: q("[data-prompt]"),
      list: q("[data-rank-list]"),
      flagged: q("[data-flagged-list]"),
      flaggedEmpty: q("[data-flagged-empty]"),
      tieReminder: q("[data-tie-reminder]"),
      submit: q('[data-action="submit"]'),
      skip: q('[data-action="skip"]'),
      save: q('[data-action="save"]'),
      cancel: q("[data-cancel-revision]"),
      banner: q("[data-revision-banner]"),
      revisionNumber: q("[data-revision-number]"),
      hint: q("[data-submit-hint]"),
      count: q("[data-session-count]"),
      panel: q("[data-instructions]"),
      panelButton: q('[data-action="instructions"]'),
      announce: q("[data-announce]"),
      template: q("[data-card-template]"),
      recentList: q("[data-recent-list]"),
      recentEmpty: q("[data-recent-empty]"),
    };
    this.api = new ApiClient({ csrf: data.csrf, onInflight: (n) => (root.dataset.inflight = String(n)) });
    this.store = new PendingStore(safeLocalStorage(), `labelhub:pending:${data.user}:${data.project}`);
    this.task = null; // the current task from `tasks/next`
    this.taskState = null; // its ranking so far (kept while the labeler revises an older one)
    this.revision = null; // {assignment, revision, loaded, state} while an older ranking is open
    this.shown = null; // what the cards show: {state, cardsById, twins}
    this.exhausted = false; // `next` answered 204
    this.busy = false; // a request is in flight: the ranking is frozen
    this.doneThisSession = 0;
    this.recent = [];
  }

  start() {
    this.sortable = makeSortable(this.el.list, {
      onDrop: (card, index) => {
        const result = this.shown.state.moveTo(card.dataset.completionId, index);
        this.render();
        this.say(result.message);
      },
    });
    this.root.addEventListener("click", (event) => this.onClick(event));
    document.addEventListener("keydown", (event) => this.onKey(event));
    window.addEventListener("online", () => this.api.retryNow());
    this.refreshRecent();
    const pending = this.store.load(this.urls.ranking);
    if (pending) {
      this.pending = pending;
      this.sendPending();
    } else {
      this.loadNext();
    }
  }

  // ---- the current task ---------------------------------------------------------------------

  async loadNext() {
    this.setBusy(true);
    const response = await this.api.nextTask(this.urls.next, ({ offline, status }) =>
      this.showStatus(
        offline
          ? "You are offline — will load the next task when the connection is back."
          : `The server had a problem (${status}) — trying again…`,
        "offline",
      ),
    );
    if (response.status === 204) {
      this.exhausted = true;
      this.task = this.taskState = this.shown = null;
      this.el.task.hidden = true;
      this.el.empty.hidden = false;
      this.showStatus(this.doneThisSession ? `You ranked ${this.doneThisSession} this session.` : "");
      this.setBusy(false);
      return;
    }
    if (!response.ok) {
      this.showFailure(response);
      return;
    }
    const task = await response.json();
    if (task.instructions_version != null && String(task.instructions_version) !== this.instructionsVersion) {
      // The instructions changed since this page was opened: the page shows them again first.
      window.location.reload();
      return;
    }
    this.task = task;
    this.taskState = new RankingState(task.completions.map((completion) => completion.id), { allowTies: this.allowTies });
    if (this.el.status.dataset.kind !== "error") this.showStatus(""); // an error note stays until the next submit
    this.showTask();
  }

  /** Show the current task, as far as the labeler has ranked it (`elapsed` ms already spent on it). */
  showTask(elapsed = 0) {
    this.show(this.task, this.taskState);
    this.shownAt = performance.now() - elapsed;
  }

  /** Cards for `completions` (prompt, completions in the order shown), placed from `state`. */
  show({ prompt, completions }, state) {
    renderText(this.el.prompt, prompt.text);
    const cardsById = new Map(
      completions.map((completion, index) => [Number(completion.id), makeCard(this.el.template, completion, index + 1)]),
    );
    this.el.list.replaceChildren();
    this.el.flagged.replaceChildren();
    this.shown = { state, cardsById, twins: duplicatesOf(completions) };
    const revising = Boolean(this.revision);
    this.el.banner.hidden = !revising;
    if (revising) this.el.revisionNumber.textContent = String(this.revision.revision);
    for (const button of [this.el.save, this.el.cancel]) button.hidden = !revising;
    for (const button of [this.el.submit, this.el.skip]) button.hidden = revising;
    this.el.empty.hidden = true;
    this.el.task.hidden = false;
    this.setBusy(false);
    window.scrollTo({ top: 0 });
    this.allCards()[0]?.focus({ preventScroll: true });
  }

  submit() {
    if (this.busy) return;
    if (this.revision) {
      this.save();
      return;
    }
    if (!this.taskState?.isComplete()) {
      this.say("Move at least one card, or confirm that the order shown is right, before submitting.");
      this.el.hint.classList.remove("nudge");
      void this.el.hint.offsetWidth; // restart the nudge animation
      this.el.hint.classList.add("nudge");
      return;
    }
    const assignment = this.task.assignment;
    this.pending = {
      kind: "submit",
      method: "POST",
      url: assignmentUrl(this.urls.ranking, assignment),
      assignment,
      body: {
        ...this.taskState.toBody(),
        duration_ms: this.elapsed(),
        instructions_version: this.task.instructions_version,
      },
    };
    this.store.save(this.pending);
    this.sendPending();
  }

  /** Send the pending ranking (or revision) until the server answers; the endpoint is idempotent,
   * so a ranking the server did store before the connection dropped is not stored twice. */
  async sendPending() {
    this.setBusy(true);
    const pending = this.pending;
    const revising = pending.kind === "revise";
    const response = await this.api.sendRanking(pending, ({ offline, status }) => {
      const what = revising ? "will save your changes" : "will resubmit your ranking";
      this.showStatus(
        offline
          ? `You are offline — ${what} as soon as the connection is back.`
          : `The server had a problem (${status}) — ${what}.`,
        "offline",
      );
    });
    if (revising) {
      this.afterRevision(response);
      return;
    }
    if (response.ok) {
      this.clearPending();
      this.showStatus("");
      this.doneThisSession += 1;
      this.el.count.textContent = String(this.doneThisSession);
      this.say(`Submitted. ${this.doneThisSession} done this session.`);
      if (this.task?.assignment === pending.assignment) this.addRecent(entryForSubmitted(this.task));
      else this.refreshRecent();
      this.loadNext();
    } else if (response.status === 409 || response.status === 404) {
      this.clearPending();
      this.showStatus("This task was already closed (submitted, skipped or expired): here is the next one.", "error");
      this.loadNext();
    } else if (response.status === 400) {
      this.clearPending();
      this.showFailure(response);
      if (this.task) this.setBusy(false);
      else this.loadNext(); // a stale ranking saved by an earlier visit: drop it, carry on
    } else {
      this.showFailure(response); // e.g. signed out: the ranking stays saved in this browser
    }
  }

  async skip() {
    if (this.busy || !this.task || this.revision) return;
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

  // ---- revising an earlier ranking -----------------------------------------------------------

  async openRevision(assignment) {
    if (this.revision?.assignment === assignment) return;
    if (this.busy) {
      this.wantedRevision = assignment; // opened as soon as the page is free (e.g. the next task has loaded)
      return;
    }
    this.setBusy(true);
    const response = await this.api.getJson(assignmentUrl(this.urls.ranking, assignment), ({ offline, status }) =>
      this.showStatus(
        offline ? "You are offline — will open that ranking when the connection is back." : `The server had a problem (${status}) — trying again…`,
        "offline",
      ),
    );
    if (!response.ok) {
      this.showFailure(response);
      this.setBusy(false);
      return;
    }
    const ranking = await response.json();
    if (!this.revision) this.taskElapsed = this.task ? performance.now() - this.shownAt : 0;
    const shownIds = ranking.completions.map((completion) => completion.id);
    const state = RankingState.fromRanking(shownIds, ranking.tiers, ranking.flagged, { allowTies: this.allowTies });
    this.revision = { assignment: ranking.assignment, revision: ranking.revision, loaded: state.clone(), state };
    this.showStatus("");
    this.show(ranking, state);
    this.shownAt = performance.now();
    this.say(`Your ranking of this prompt is open (revision ${ranking.revision}). Change it, then save.`);
  }

  save() {
    const revision = this.revision;
    if (this.busy || !revision) return;
    if (revision.state.sameRankingAs(revision.loaded)) {
      this.say("Nothing has changed yet.");
      return;
    }
    this.pending = {
      kind: "revise",
      method: "PUT",
      url: assignmentUrl(this.urls.ranking, revision.assignment),
      assignment: revision.assignment,
      body: { ...revision.state.toBody(), duration_ms: this.elapsed() },
    };
    this.store.save(this.pending);
    this.sendPending();
  }

  async afterRevision(response) {
    if (response.ok) {
      this.clearPending();
      let number = "";
      try {
        number = (await response.json()).revision ?? "";
      } catch {
        // not JSON: the changes are saved all the same
      }
      this.showStatus(`Your changes are saved${number ? ` (revision ${number})` : ""}. Back to the current task.`);
      this.say("Changes saved.");
      this.refreshRecent();
      this.backToTask();
    } else if (response.status === 400 && this.revision) {
      this.clearPending();
      this.showFailure(response);
      this.setBusy(false);
    } else if ([400, 404, 409].includes(response.status)) {
      this.clearPending();
      this.showFailure(response);
      this.backToTask();
    } else {
      this.showFailure(response); // e.g. signed out: the changes stay saved in this browser
    }
  }

  cancelRevision() {
    if (this.busy || !this.revision) return;
    this.showStatus("");
    this.backToTask();
  }

  /** Leave the revision for the task the labeler was on, as they left it. */
  backToTask() {
    this.revision = null;
    if (this.task) {
      this.showTask(this.taskElapsed);
    } else if (this.exhausted) {
      this.shown = null;
      this.el.task.hidden = true;
      this.el.empty.hidden = false;
      this.setBusy(false);
    } else {
      this.loadNext();
    }
  }

  // ---- recent rankings ------------------------------------------------------------------------

  async refreshRecent() {
    if (!this.urls.recent) return;
    try {
      const response = await this.api.request("GET", this.urls.recent);
      if (!response.ok) return;
      this.recent = await response.json();
    } catch {
      return; // offline: the list stays as it was
    }
    drawRecent({ list: this.el.recentList, empty: this.el.recentEmpty }, this.recent);
  }

  addRecent(entry) {
    this.recent = [entry, ...this.recent.filter((other) => other.assignment !== entry.assignment)].slice(0, RECENT_MAX);
    drawRecent({ list: this.el.recentList, empty: this.el.recentEmpty }, this.recent);
  }

  // ---- drawing ------------------------------------------------------------------------------

  render() {
    const state = this.shown?.state;
    if (state) {
      drawRanking(state, { list: this.el.list, flaggedList: this.el.flagged, ...this.shown });
      this.el.flaggedEmpty.hidden = state.flagged.length > 0;
      this.el.tieReminder.hidden = state.tieCount() <= 1;
    }
    this.el.hint.hidden = Boolean(this.revision) || Boolean(state?.touched);
    this.el.submit.disabled = this.busy || !state?.isComplete();
    this.el.skip.disabled = this.busy;
    this.el.save.disabled = this.busy || !this.revision || this.revision.state.sameRankingAs(this.revision.loaded);
    this.el.cancel.disabled = this.busy;
  }

  setBusy(busy) {
    this.busy = busy;
    this.root.classList.toggle("is-busy", busy);
    this.sortable?.option("disabled", busy);
    this.render();
    if (!busy && this.wantedRevision != null) {
      const assignment = this.wantedRevision;
      this.wantedRevision = null;
      queueMicrotask(() => this.openRevision(assignment));
    }
  }

  async showFailure(response) {
    let detail = "";
    try {
      detail = (await response.json()).detail || "";
    } catch {
      // not JSON
    }
    if (response.status === 403 || response.status === 401) {
      this.showStatus("You are signed out. Log in again in another tab; your ranking is kept in this browser.", "error");
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

  rankedCards() {
    return [...this.el.list.querySelectorAll(":scope > [data-completion-id]")];
  }

  allCards() {
    return [...this.rankedCards(), ...this.el.flagged.querySelectorAll(":scope > [data-completion-id]")];
  }

  // ---- the instructions panel ---------------------------------------------------------------

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

  // ---- input --------------------------------------------------------------------------------

  /** Apply a change of the shown ranking (`change(state, id)` → {changed, message}) to `card`. */
  change(card, change, { keepInView = false } = {}) {
    if (this.busy || !card || !this.shown) return;
    const result = change(this.shown.state, card.dataset.completionId);
    if (result.changed) this.render();
    if (keepInView && result.changed) {
      card.focus();
      card.scrollIntoView({ block: "nearest" });
    }
    this.say(result.message);
  }

  onClick(event) {
    const button = event.target.closest("[data-action]");
    if (!button || !this.root.contains(button)) return;
    const card = button.closest("[data-completion-id]");
    switch (button.dataset.action) {
      case "tie":
        this.change(card, (state, id) => state.toggleTie(id));
        break;
      case "flag":
        this.change(card, (state, id) => state.toggleFlag(id), { keepInView: true });
        break;
      case "submit":
        this.submit();
        break;
      case "save":
        this.save();
        break;
      case "cancel-revision":
        this.cancelRevision();
        break;
      case "open-ranking":
        this.openRevision(Number(button.dataset.assignment));
        break;
      case "skip":
        this.skip();
        break;
      case "keep-order":
        this.taskState?.confirmOrder();
        this.render();
        this.el.submit.focus();
        break;
      case "instructions":
        this.toggleInstructions();
        break;
      case "close-instructions":
        this.toggleInstructions(false);
        break;
    }
  }

  onKey(event) {
    if (event.ctrlKey || event.metaKey || event.defaultPrevented) return;
    const target = event.target instanceof Element ? event.target : document.body;
    if (target.closest("input, textarea, select, [contenteditable]")) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const panelOpen = !this.el.panel.hidden;
    if (key === "?") {
      event.preventDefault();
      this.toggleInstructions();
      return;
    }
    if (panelOpen && key === "Escape") {
      event.preventDefault();
      this.toggleInstructions(false);
      return;
    }
    if (panelOpen && this.el.panel.contains(target)) return;
    if (!this.shown || this.el.task.hidden) return;

    const card = target.closest("[data-completion-id]");
    const onButton = target.closest("button, a, summary");
    if (key === "ArrowUp" || key === "ArrowDown") {
      const delta = key === "ArrowUp" ? -1 : 1;
      if (event.altKey) {
        if (!card || this.busy) return;
        event.preventDefault();
        this.move(card, delta);
      } else if (card) {
        event.preventDefault();
        this.focusNeighbour(card, delta);
      }
      return;
    }
    if (event.altKey) return;
    if (key === "Enter") {
      if (onButton) return; // a focused button does its own job
      event.preventDefault();
      this.submit();
      return;
    }
    if (!TEXT_KEYS.has(key)) return;
    event.preventDefault();
    if (key === "s") {
      this.skip();
      return;
    }
    if (!card || this.busy) {
      if (!card) this.say("Focus a card first (Tab or arrow keys).");
      return;
    }
    if (key === "j") this.move(card, 1);
    else if (key === "k") this.move(card, -1);
    else if (key === "t") this.change(card, (state, id) => state.toggleTie(id));
    else if (key === "f") this.change(card, (state, id) => state.toggleFlag(id), { keepInView: true });
  }

  move(card, delta) {
    this.change(card, (state, id) => state.move(id, delta), { keepInView: true });
  }

  focusNeighbour(card, delta) {
    const cards = this.allCards();
    const next = cards[cards.indexOf(card) + delta];
    if (next) {
      next.focus();
      next.scrollIntoView({ block: "nearest" });
    }
  }
}

function safeLocalStorage() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled: pending rankings are kept in memory only
  }
}

const root = document.querySelector("[data-bench]");
if (root) new Bench(root).start();
