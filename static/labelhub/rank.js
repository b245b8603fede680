// The labeler's bench: one task at a time from the API, ranked by dragging (SortableJS, by the
// handle only, so that scrolling a long card on a phone never reorders it) or by keyboard alone.
//
// The ranked list is flat: each card knows whether it is tied with the card above it
// (data-tied), and the tiers are read off the list in order. Model output (prompt and
// completions) is only ever inserted with textContent, never as HTML.

const TEXT_KEYS = new Set(["j", "k", "t", "f", "s"]);
const RETRY_MAX_MS = 15000;

/** Show `text` as text, keeping whitespace; ``` fenced blocks get a monospace box (fences kept).
 * The container's textContent is exactly `text`: nothing is dropped or added. */
export function renderText(container, text) {
  const segments = []; // [isCode, lines]
  let inCode = false;
  for (const line of String(text).split("\n")) {
    const fence = line.trimStart().startsWith("```");
    if (fence && !inCode) segments.push([true, []]);
    else if (!segments.length || (!inCode && segments.at(-1)[0])) segments.push([false, []]);
    segments.at(-1)[1].push(line);
    if (fence) inCode = !inCode;
  }
  container.replaceChildren(
    ...segments.map(([code, lines], index) => {
      const block = document.createElement(code ? "pre" : "div");
      block.className = code ? "code" : "prose";
      // The newline between two blocks stays in the text (a trailing newline adds no blank line).
      block.textContent = lines.join("\n") + (index < segments.length - 1 ? "\n" : "");
      return block;
    }),
  );
}

class Bench {
  constructor(root) {
    this.root = root;
    const data = root.dataset;
    this.allowTies = data.allowTies === "true";
    this.instructionsVersion = data.instructionsVersion;
    this.urls = { next: data.nextUrl, ranking: data.rankingUrl, skip: data.skipUrl };
    this.csrf = data.csrf;
    this.storageKey = `labelhub:pending:${data.user}:${data.project}`;
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
      hint: q("[data-submit-hint]"),
      count: q("[data-session-count]"),
      panel: q("[data-instructions]"),
      panelButton: q('[data-action="instructions"]'),
      announce: q("[data-announce]"),
      template: q("[data-card-template]"),
    };
    this.task = null;
    this.busy = false; // a submission or skip is in flight: the ranking is frozen
    this.touched = false; // the labeler has made the order their own (moved, tied, flagged or confirmed)
    this.doneThisSession = 0;
    this.retryDelay = 1000;
    this.retryTimer = null;
  }

  start() {
    this.sortable = window.Sortable.create(this.el.list, {
      handle: "[data-handle]",
      animation: window.matchMedia("(prefers-reduced-motion: reduce)").matches ? 0 : 150,
      // Sortable's own pointer-driven dragging rather than native HTML5 drag and drop: the same
      // behaviour with mouse, pen and touch, and the card follows the pointer.
      forceFallback: true,
      fallbackTolerance: 3,
      ghostClass: "is-ghost",
      chosenClass: "is-chosen",
      dragClass: "is-dragging",
      onStart: (event) => {
        this.dragging = true;
        this.dragFrom = { follower: event.item.nextElementSibling, wasHead: !isTied(event.item) };
      },
      onEnd: (event) => {
        this.dragging = false;
        if (event.oldIndex !== event.newIndex) {
          this.afterMove(event.item, this.dragFrom.follower, this.dragFrom.wasHead);
          this.say(`Moved to rank ${this.rankOf(event.item)}.`);
        }
      },
    });
    // Sortable's pointer-driven mode looks for the drop place only every 50 ms, so a quick flick
    // released in between lands short of where the pointer is. On release (capture phase, before
    // Sortable's own drop handler) replay the release point as a last move and look once more.
    // `_emulateDragOver` is Sortable's own (1.15, pinned in package-lock.json).
    const settleDrop = (event) => {
      if (!this.dragging || typeof this.sortable._emulateDragOver !== "function") return;
      const type = this.sortable.options.supportPointer ? "pointermove" : "mousemove";
      const init = { clientX: event.clientX, clientY: event.clientY, bubbles: true };
      document.dispatchEvent(type === "pointermove" ? new PointerEvent(type, init) : new MouseEvent(type, init));
      this.sortable._emulateDragOver();
    };
    for (const type of ["pointerup", "mouseup"]) window.addEventListener(type, settleDrop, true);
    this.root.addEventListener("click", (event) => this.onClick(event));
    document.addEventListener("keydown", (event) => this.onKey(event));
    window.addEventListener("online", () => this.retryNow());
    const pending = this.loadPending();
    if (pending) {
      this.pending = pending;
      this.sendPending();
    } else {
      this.loadNext();
    }
  }

  // ---- fetching -------------------------------------------------------------------------

  async post(url, body) {
    // data-inflight lets tests (and the curious) see when the page is waiting for the server.
    this.root.dataset.inflight = String(Number(this.root.dataset.inflight || 0) + 1);
    try {
      return await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": this.csrf },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } finally {
      this.root.dataset.inflight = String(Number(this.root.dataset.inflight) - 1);
    }
  }

  assignmentUrl(template, assignmentId) {
    return template.replace("/0/", `/${assignmentId}/`);
  }

  async loadNext() {
    this.setBusy(true);
    let response;
    try {
      response = await this.post(this.urls.next);
    } catch {
      this.showStatus("You are offline — will load the next task when the connection is back.", "offline");
      this.scheduleRetry(() => this.loadNext());
      return;
    }
    if (response.status >= 500) {
      // A passing server or database problem: `next` is idempotent (it returns the open task), so ask again.
      this.showStatus(`The server had a problem (${response.status}) — trying again…`, "offline");
      this.scheduleRetry(() => this.loadNext());
      return;
    }
    this.retryDelay = 1000;
    if (response.status === 204) {
      this.task = null;
      this.el.task.hidden = true;
      this.el.empty.hidden = false;
      this.showStatus(this.doneThisSession ? `You ranked ${this.doneThisSession} this session.` : "");
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
    this.showTask(task);
  }

  showTask(task) {
    this.task = task;
    this.el.prompt.replaceChildren();
    renderText(this.el.prompt, task.prompt.text);
    const cards = task.completions.map((completion, index) => this.makeCard(completion, index));
    this.el.list.replaceChildren(...cards);
    this.el.flagged.replaceChildren();
    this.touched = false;
    this.el.empty.hidden = true;
    this.el.task.hidden = false;
    if (this.el.status.dataset.kind !== "error") this.showStatus(""); // an error note stays until the next submit
    this.setBusy(false);
    this.render();
    this.shownAt = performance.now();
    window.scrollTo({ top: 0 });
    cards[0]?.focus({ preventScroll: true });
  }

  makeCard(completion, index) {
    const card = this.el.template.content.firstElementChild.cloneNode(true);
    card.dataset.completionId = String(completion.id);
    card.dataset.tied = "false";
    card.dataset.shownPosition = String(index + 1);
    const text = card.querySelector("[data-text]");
    text.id = `completion-text-${completion.id}`;
    card.setAttribute("aria-describedby", text.id); // the card's name is its rank; its text describes it
    renderText(text, completion.text);
    return card;
  }

  // ---- the ranking ------------------------------------------------------------------------

  rankedCards() {
    return [...this.el.list.querySelectorAll(":scope > [data-completion-id]")];
  }

  flaggedCards() {
    return [...this.el.flagged.querySelectorAll(":scope > [data-completion-id]")];
  }

  allCards() {
    return [...this.rankedCards(), ...this.flaggedCards()];
  }

  tiers() {
    const tiers = [];
    for (const card of this.rankedCards()) {
      const id = Number(card.dataset.completionId);
      if (isTied(card) && tiers.length) tiers[tiers.length - 1].push(id);
      else tiers.push([id]);
    }
    return tiers;
  }

  rankOf(card) {
    const tiers = this.tiers();
    const id = Number(card.dataset.completionId);
    return tiers.findIndex((tier) => tier.includes(id)) + 1;
  }

  isComplete() {
    if (!this.task) return false;
    const ranked = this.rankedCards().length;
    const flagged = this.flaggedCards().length;
    const everyCardPlaced = ranked + flagged === this.task.completions.length;
    return everyCardPlaced && (ranked > 0 || flagged > 0) && this.touched;
  }

  /** After `card` moved: the card that followed it may have to lead its tier, and the moved card
   * joins the tier it landed inside (if it landed between two tied cards). */
  afterMove(card, formerFollower, wasHead) {
    if (wasHead && formerFollower && formerFollower !== card && isTied(formerFollower)) {
      formerFollower.dataset.tied = "false";
    }
    const next = card.nextElementSibling;
    card.dataset.tied = String(Boolean(card.previousElementSibling && next && isTied(next)));
    this.touched = true;
    this.render();
  }

  move(card, delta) {
    if (!this.el.list.contains(card)) {
      this.say("Flagged cards are not ranked. Press F to unflag it first.");
      return;
    }
    const target = delta < 0 ? card.previousElementSibling : card.nextElementSibling;
    if (!target) {
      this.say(delta < 0 ? "Already at the top." : "Already at the bottom.");
      return;
    }
    const follower = card.nextElementSibling;
    const wasHead = !isTied(card);
    if (delta < 0) target.before(card);
    else target.after(card);
    this.afterMove(card, follower, wasHead);
    card.focus();
    card.scrollIntoView({ block: "nearest" });
    this.say(`Moved to rank ${this.rankOf(card)}.`);
  }

  toggleTie(card) {
    if (!this.allowTies) {
      this.say("This project does not allow ties.");
      return;
    }
    if (!this.el.list.contains(card)) {
      this.say("A flagged card cannot be tied.");
      return;
    }
    if (!card.previousElementSibling) {
      this.say("The top card has nothing above it to tie with.");
      return;
    }
    card.dataset.tied = String(!isTied(card));
    this.touched = true;
    this.render();
    this.say(isTied(card) ? `Tied at rank ${this.rankOf(card)}.` : `Untied: now rank ${this.rankOf(card)}.`);
  }

  toggleFlag(card) {
    if (this.el.flagged.contains(card)) {
      this.el.list.append(card);
      card.dataset.tied = "false";
      this.say(`Unflagged: now rank ${this.rankOf(card)}.`);
    } else {
      const follower = card.nextElementSibling;
      if (!isTied(card) && follower && isTied(follower)) follower.dataset.tied = "false";
      card.dataset.tied = "false";
      this.el.flagged.append(card);
      this.say("Flagged as nonsense: it is left out of the ranking.");
    }
    this.touched = true;
    this.render();
    card.focus();
    card.scrollIntoView({ block: "nearest" });
  }

  /** Rank numbers, tie groups, button states and the submit button, from the cards' state. */
  render() {
    const ranked = this.rankedCards();
    let rank = 0;
    let ties = 0;
    ranked.forEach((card, index) => {
      if (index === 0) card.dataset.tied = "false";
      const tied = isTied(card);
      if (tied) ties += 1;
      else rank += 1;
      const next = ranked[index + 1];
      card.classList.toggle("is-tied", tied);
      card.classList.toggle("has-tie-below", Boolean(next && isTied(next)));
      card.classList.remove("is-flagged");
      card.querySelector("[data-rank]").textContent = String(rank);
      card.setAttribute("aria-label", `Rank ${rank}${tied ? ", tied with the card above" : ""}`);
      const tie = card.querySelector('[data-action="tie"]');
      if (tie) {
        tie.hidden = index === 0;
        tie.setAttribute("aria-pressed", String(tied));
        tie.querySelector("[data-label]").textContent = tied ? "Untie" : "Tie";
        tie.querySelector(".wide-only").hidden = tied;
      }
      this.setFlagButton(card, false);
    });
    for (const card of this.flaggedCards()) {
      card.classList.remove("is-tied", "has-tie-below");
      card.classList.add("is-flagged");
      card.querySelector("[data-rank]").textContent = "";
      card.setAttribute("aria-label", "Flagged as nonsense");
      const tie = card.querySelector('[data-action="tie"]');
      if (tie) tie.hidden = true;
      this.setFlagButton(card, true);
    }
    this.el.flaggedEmpty.hidden = this.flaggedCards().length > 0;
    this.el.tieReminder.hidden = ties <= 1;
    this.el.hint.hidden = this.touched;
    this.el.submit.disabled = this.busy || !this.isComplete();
    this.el.skip.disabled = this.busy;
  }

  setFlagButton(card, flagged) {
    const flag = card.querySelector('[data-action="flag"]');
    flag.setAttribute("aria-pressed", String(flagged));
    flag.textContent = flagged ? "Unflag" : "Flag";
  }

  setBusy(busy) {
    this.busy = busy;
    this.root.classList.toggle("is-busy", busy);
    this.sortable?.option("disabled", busy);
    this.render();
  }

  // ---- submitting -----------------------------------------------------------------------------

  submit() {
    if (this.busy) return;
    if (!this.isComplete()) {
      this.say("Move at least one card, or confirm that the order shown is right, before submitting.");
      this.el.hint.classList.remove("nudge");
      void this.el.hint.offsetWidth; // restart the nudge animation
      this.el.hint.classList.add("nudge");
      return;
    }
    const flagged = this.flaggedCards().map((card) => Number(card.dataset.completionId));
    this.pending = {
      assignment: this.task.assignment,
      body: {
        tiers: this.tiers(),
        flagged,
        duration_ms: Math.max(1, Math.round(performance.now() - this.shownAt)),
        instructions_version: this.task.instructions_version,
      },
    };
    this.savePending();
    this.sendPending();
  }

  async sendPending() {
    this.setBusy(true);
    const { assignment, body } = this.pending;
    let response;
    try {
      response = await this.post(this.assignmentUrl(this.urls.ranking, assignment), body);
    } catch {
      // The endpoint is idempotent: sending the same ranking again cannot store it twice.
      this.showStatus("You are offline — will resubmit your ranking as soon as the connection is back.", "offline");
      this.scheduleRetry(() => this.sendPending());
      return;
    }
    if (response.status >= 500) {
      // A passing server or database problem: the ranking stays saved here and is sent again
      // (the endpoint is idempotent, so a ranking the server did store is not stored twice).
      this.showStatus(`The server had a problem (${response.status}) — will resubmit your ranking.`, "offline");
      this.scheduleRetry(() => this.sendPending());
      return;
    }
    this.retryDelay = 1000;
    if (response.ok) {
      this.clearPending();
      this.showStatus("");
      this.doneThisSession += 1;
      this.el.count.textContent = String(this.doneThisSession);
      this.say(`Submitted. ${this.doneThisSession} done this session.`);
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
    if (this.busy || !this.task) return;
    this.setBusy(true);
    try {
      const response = await this.post(this.assignmentUrl(this.urls.skip, this.task.assignment));
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

  scheduleRetry(action) {
    clearTimeout(this.retryTimer);
    this.retryAction = action;
    this.retryTimer = setTimeout(() => this.retryNow(), this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
  }

  retryNow() {
    if (!this.retryAction) return;
    clearTimeout(this.retryTimer);
    const action = this.retryAction;
    this.retryAction = null;
    action();
  }

  savePending() {
    try {
      localStorage.setItem(this.storageKey, JSON.stringify(this.pending));
    } catch {
      // Private mode or full storage: the ranking is still kept in memory and retried.
    }
  }

  loadPending() {
    try {
      return JSON.parse(localStorage.getItem(this.storageKey) || "null");
    } catch {
      return null;
    }
  }

  clearPending() {
    this.pending = null;
    try {
      localStorage.removeItem(this.storageKey);
    } catch {
      // see savePending
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
    this.el.announce.textContent = text;
  }

  // ---- instructions panel ------------------------------------------------------------------

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

  // ---- input ------------------------------------------------------------------------------

  onClick(event) {
    const button = event.target.closest("[data-action]");
    if (!button || !this.root.contains(button)) return;
    const card = button.closest("[data-completion-id]");
    switch (button.dataset.action) {
      case "tie":
        if (!this.busy) this.toggleTie(card);
        break;
      case "flag":
        if (!this.busy) this.toggleFlag(card);
        break;
      case "submit":
        this.submit();
        break;
      case "skip":
        this.skip();
        break;
      case "keep-order":
        this.touched = true;
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
    if (!this.task || this.el.task.hidden) return;

    const card = target.closest("[data-completion-id]");
    const onButton = target.closest("button, a");
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
    else if (key === "t") this.toggleTie(card);
    else if (key === "f") this.toggleFlag(card);
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

function isTied(card) {
  return card.dataset.tied === "true";
}

const root = document.querySelector("[data-bench]");
if (root) {
  const bench = new Bench(root);
  bench.start();
}
