// The thumbs bench: one task at a time from the API; each completion gets thumbs up, thumbs down
// or a flag, by mouse (the card's buttons) or keys (U, D, F on the focused card; ↑/↓ between
// cards; Enter submits once every completion is judged; S skips; ? instructions).
//
// The judgement lives in thumbs-state.js (pure), the network in api-client.js (retries, and the
// pending judgement kept in the browser until the server has it), the prompt's drawing in
// conversation-view.js, what it shares with the ranking bench in bench-page.js. No inline script: everything comes in data- attributes of [data-thumbs-bench].

import { BenchPage } from "./bench-page.js";
import { renderText } from "./cards.js";
import { renderPrompt } from "./conversation-view.js";
import { ThumbsState } from "./thumbs-state.js";

const KEY_VERDICTS = { u: "up", d: "down", f: "flag" };
const LABELS = { up: "Thumbs up", down: "Thumbs down", flag: "Flagged as nonsense" };

class ThumbsBench extends BenchPage {
  constructor(root) {
    super(root, { kept: "your judgement" });
    this.el = {
      ...this.commonElements(),
      list: this.q("[data-thumbs-list]"),
      left: this.q("[data-left]"),
    };
    this.state = null;
  }

  start() {
    super.start({ onClick: (event) => this.onClick(event), onKey: (event) => this.onKey(event) });
  }

  async loadNext() {
    const task = await this.fetchNextTask();
    if (!task) return;
    this.task = task;
    this.state = new ThumbsState(task.completions.map((completion) => completion.id));
    this.show();
  }

  nothingLeft() {
    this.task = this.state = null;
    this.el.task.hidden = true;
    this.el.empty.hidden = false;
    this.setBusy(false);
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
    this.submitTask(this.state.toBody());
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
}

const root = document.querySelector("[data-thumbs-bench]");
if (root) new ThumbsBench(root).start();
