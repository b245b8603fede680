// The labeler's bench: the page wiring. One task at a time from the API, ranked by dragging (by the
// handle only, so that scrolling a long card on a phone never reorders it) or by keyboard alone;
// the labeler's recent rankings, each of which can be reopened, changed and saved again.
//
// What it shares with the thumbs bench (next task, sending, skipping, status line, instructions)
// is in bench-page.js. The ranking itself lives in ranking-state.js (pure), the network in api-client.js, drawing in
// cards.js, dragging in drag.js, clicks and keys in keys.js, revisions in revising.js and the
// list of recent rankings in recent.js. Everything the page needs from the server comes in data-
// attributes of [data-bench] (no inline script: the Content-Security-Policy allows none).

import { BenchPage } from "./bench-page.js";
import { drawRanking, makeCard } from "./cards.js";
import { renderPrompt } from "./conversation-view.js";
import { makeSortable } from "./drag.js";
import { duplicatesOf } from "./duplicates.js";
import { handleClick, handleKey } from "./keys.js";
import { RankingState } from "./ranking-state.js";
import { RecentList, entryForSubmitted } from "./recent.js";
import { Reviser } from "./revising.js";

class Bench extends BenchPage {
  constructor(root) {
    super(root, { kept: "your ranking" });
    const data = root.dataset;
    this.allowTies = data.allowTies === "true";
    const q = (selector) => this.q(selector);
    this.el = {
      ...this.commonElements(),
      list: q("[data-rank-list]"),
      flagged: q("[data-flagged-list]"),
      flaggedEmpty: q("[data-flagged-empty]"),
      tieReminder: q("[data-tie-reminder]"),
      save: q('[data-action="save"]'),
      cancel: q("[data-cancel-revision]"),
      banner: q("[data-revision-banner]"),
      revisionNumber: q("[data-revision-number]"),
      hint: q("[data-submit-hint]"),
    };
    this.taskState = null; // the current task's ranking so far (kept while the labeler revises an older one)
    this.reviser = new Reviser(this); // while an earlier ranking is open: reviser.current
    this.shown = null; // what the cards show: {state, cardsById, twins}
    this.exhausted = false; // `next` answered 204
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
    this.recent.refresh();
    super.start({ onClick: (event) => handleClick(this, event), onKey: (event) => handleKey(this, event) });
  }

  // ---- the current task ---------------------------------------------------------------------

  async loadNext() {
    const task = await this.fetchNextTask();
    if (!task) return;
    this.task = task;
    this.taskState = new RankingState(task.completions.map((completion) => completion.id), { allowTies: this.allowTies });
    if (this.el.status.dataset.kind !== "error") this.showStatus(""); // an error note stays until the next submit
    this.showTask();
  }

  nothingLeft() {
    this.exhausted = true;
    this.task = this.taskState = null;
    this.showStatus(this.doneThisSession ? `You ranked ${this.doneThisSession} this session.` : "");
    this.showNothingLeft();
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
    this.submitTask(this.taskState.toBody());
  }

  resendWhat(pending) {
    return pending.kind === "revise" ? "will save your changes" : "will resubmit your ranking";
  }

  answered(response, pending) {
    if (pending.kind === "revise") this.reviser.saved(response);
    else super.answered(response, pending);
  }

  submitted(pending) {
    if (this.task?.assignment === pending.assignment) this.recent.add(entryForSubmitted(this.task));
    else this.recent.refresh();
  }

  async skip() {
    if (this.reviser.current) return;
    await super.skip();
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

  rankedCards() {
    return [...this.el.list.querySelectorAll(":scope > [data-completion-id]")];
  }

  allCards() {
    return [...this.rankedCards(), ...this.el.flagged.querySelectorAll(":scope > [data-completion-id]")];
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

const root = document.querySelector("[data-bench]");
if (root) new Bench(root).start();
