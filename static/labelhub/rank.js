// The labeler's bench: the page wiring. One task at a time from the API, ranked by dragging (by the
// handle only, so that scrolling a long card on a phone never reorders it) or by keyboard alone;
// the labeler's recent rankings, each of which can be reopened, changed and saved again.
//
// The ranking itself lives in ranking-state.js (pure), the network in api-client.js, drawing in
// cards.js, dragging in drag.js, clicks and keys in keys.js, revisions in revising.js and the
// list of recent rankings in recent.js. Everything the page needs from the server comes in data-
// attributes of [data-bench] (no inline script: the Content-Security-Policy allows none).

import { ApiClient, PendingStore, assignmentUrl } from "./api-client.js";
import { drawRanking, makeCard } from "./cards.js";
import { renderPrompt } from "./conversation-view.js";
import { makeSortable } from "./drag.js";
import { duplicatesOf } from "./duplicates.js";
import { handleClick, handleKey } from "./keys.js";
import { RankingState } from "./ranking-state.js";
import { RecentList, entryForSubmitted } from "./recent.js";
import { Reviser } from "./revising.js";

class Bench {
  constructor(root) {
    this.root = root;
    const data = root.dataset;
    this.allowTies = data.allowTies === "true";
    this.instructionsVersion = data.instructionsVersion;
    this.urls = { next: data.nextUrl, ranking: data.rankingUrl, skip: data.skipUrl };
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
    };
    this.api = new ApiClient({ csrf: data.csrf, onInflight: (n) => (root.dataset.inflight = String(n)) });
    this.store = new PendingStore(safeLocalStorage(), `labelhub:pending:${data.user}:${data.project}`);
    this.task = null; // the current task from `tasks/next`
    this.taskState = null; // its ranking so far (kept while the labeler revises an older one)
    this.reviser = new Reviser(this); // while an earlier ranking is open: reviser.current
    this.shown = null; // what the cards show: {state, cardsById, twins}
    this.exhausted = false; // `next` answered 204
    this.busy = false; // a request is in flight: the ranking is frozen
    this.doneThisSession = 0;
    this.recent = new RecentList({
      list: q("[data-recent-list]"),
      empty: q("[data-recent-empty]"),
      url: data.myRankingsUrl,
      api: this.api,
    });
  }

  start() {
    this.sortable = makeSortable(this.el.list, {
      onDrop: (card, index) => {
        const result = this.shown.state.moveTo(card.dataset.completionId, index);
        this.render();
        this.say(result.message);
      },
    });
    this.root.addEventListener("click", (event) => handleClick(this, event));
    document.addEventListener("keydown", (event) => handleKey(this, event));
    window.addEventListener("online", () => this.api.retryNow());
    this.recent.refresh();
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
      this.task = this.taskState = null;
      this.showStatus(this.doneThisSession ? `You ranked ${this.doneThisSession} this session.` : "");
      this.showNothingLeft();
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

  showNothingLeft() {
    this.shown = null;
    this.el.task.hidden = true;
    this.el.empty.hidden = false;
    this.setBusy(false);
  }

  /** Cards for `completions` (prompt, completions in the order shown), placed from `state`. */
  show({ prompt, completions }, state) {
    renderPrompt(this.el.prompt, prompt);
    const cardsById = new Map(
      completions.map((completion, index) => [Number(completion.id), makeCard(this.el.template, completion, index + 1)]),
    );
    this.el.list.replaceChildren();
    this.el.flagged.replaceChildren();
    this.shown = { state, cardsById, twins: duplicatesOf(completions) };
    const revision = this.reviser.current;
    const revising = Boolean(revision);
    this.recent.markOpen(revision?.assignment ?? null);
    this.el.banner.hidden = !revising;
    if (revising) this.el.revisionNumber.textContent = String(revision.revision);
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
    if (this.reviser.current) {
      this.reviser.save();
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
    this.send({
      kind: "submit",
      method: "POST",
      url: assignmentUrl(this.urls.ranking, assignment),
      assignment,
      body: {
        ...this.taskState.toBody(),
        duration_ms: this.elapsed(),
        instructions_version: this.task.instructions_version,
      },
    });
  }

  /** Keep `pending` in the browser until the server has it, and send it. */
  send(pending) {
    this.pending = pending;
    this.store.save(pending);
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
      this.reviser.saved(response);
      return;
    }
    if (response.ok) {
      this.clearPending();
      this.showStatus("");
      this.doneThisSession += 1;
      this.el.count.textContent = String(this.doneThisSession);
      this.say(`Submitted. ${this.doneThisSession} done this session.`);
      if (this.task?.assignment === pending.assignment) this.recent.add(entryForSubmitted(this.task));
      else this.recent.refresh();
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
    if (this.busy || !this.task || this.reviser.current) return;
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

  // ---- drawing ------------------------------------------------------------------------------

  render() {
    const state = this.shown?.state;
    if (state) {
      drawRanking(state, { list: this.el.list, flaggedList: this.el.flagged, ...this.shown });
      this.el.flaggedEmpty.hidden = state.flagged.length > 0;
      this.el.tieReminder.hidden = state.tieCount() <= 1;
    }
    this.el.hint.hidden = Boolean(this.reviser.current) || Boolean(state?.touched);
    this.el.submit.disabled = this.busy || !state?.isComplete();
    this.el.skip.disabled = this.busy;
    this.el.save.disabled = this.busy || this.reviser.unchanged();
    this.el.cancel.disabled = this.busy;
  }

  setBusy(busy) {
    this.busy = busy;
    this.root.classList.toggle("is-busy", busy);
    this.sortable?.option("disabled", busy);
    this.render();
    if (!busy) this.reviser.openWanted();
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

  // ---- actions (from keys.js) ---------------------------------------------------------------

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

  confirmOrder() {
    this.taskState?.confirmOrder();
    this.render();
    this.el.submit.focus();
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
