// One labeler's ranking of one prompt, as plain data: no DOM, no network, so it is unit-tested
// with Node's test runner (tests/js/) and the page only draws it.
//
// The ranked list is flat: each entry knows whether it is tied with the entry above it, and the
// tiers are read off the list in order (the first entry of a tier is its "head"). Flagged
// completions leave the list for a separate set. Every change answers with a sentence for
// screen readers (`message`) and whether anything changed (`changed`).

export class RankingState {
  /** `shownIds`: the completions in the order they were shown, all ranked, none tied. */
  constructor(shownIds, { allowTies = true } = {}) {
    this.shownIds = shownIds.map(Number);
    this.allowTies = Boolean(allowTies);
    this.ranked = this.shownIds.map((id) => ({ id, tied: false }));
    this.flagged = [];
    // The labeler has made the order their own (moved, tied, flagged or confirmed it).
    this.touched = false;
  }

  /** A state holding an earlier ranking (`tiers`, `flagged`), e.g. to revise it. */
  static fromRanking(shownIds, tiers, flagged, options = {}) {
    const state = new RankingState(shownIds, options);
    state.ranked = tiers.flatMap((tier) => tier.map((id, index) => ({ id: Number(id), tied: index > 0 })));
    state.flagged = flagged.map(Number);
    state.touched = true;
    return state;
  }

  /** A copy that changes independently (e.g. to compare a revision with what was loaded). */
  clone() {
    const copy = new RankingState(this.shownIds, { allowTies: this.allowTies });
    copy.ranked = this.ranked.map((entry) => ({ ...entry }));
    copy.flagged = [...this.flagged];
    copy.touched = this.touched;
    return copy;
  }

  /** Ranked ids, best first. */
  order() {
    return this.ranked.map((entry) => entry.id);
  }

  isFlagged(id) {
    return this.flagged.includes(Number(id));
  }

  isTied(id) {
    return Boolean(this.entry(id)?.tied);
  }

  /** Best first; a tier with more than one id is a tie. */
  tiers() {
    const tiers = [];
    for (const { id, tied } of this.ranked) {
      if (tied && tiers.length) tiers.at(-1).push(id);
      else tiers.push([id]);
    }
    return tiers;
  }

  /** 1-based tier number of a ranked id, 0 for a flagged or unknown one. */
  rankOf(id) {
    return this.tiers().findIndex((tier) => tier.includes(Number(id))) + 1;
  }

  /** How many entries are tied with the one above them (the page reminds past one). */
  tieCount() {
    return this.ranked.filter((entry) => entry.tied).length;
  }

  isComplete() {
    const placed = this.ranked.length + this.flagged.length;
    return placed === this.shownIds.length && placed > 0 && this.touched;
  }

  /** The body of `POST`/`PUT /api/assignments/{id}/ranking/` without the timing. */
  toBody() {
    return { tiers: this.tiers(), flagged: [...this.flagged] };
  }

  /** Same tiers (order inside a tier aside) and same flags as `other`. */
  sameRankingAs(other) {
    const key = (state) =>
      JSON.stringify([state.tiers().map((tier) => [...tier].sort((a, b) => a - b)), [...state.flagged].sort((a, b) => a - b)]);
    return key(this) === key(other);
  }

  confirmOrder() {
    this.touched = true;
    return { changed: true, message: "" };
  }

  /** Move a ranked id one place up (`delta` -1) or down (+1), as Alt+↑/↓, K/J. */
  move(id, delta) {
    id = Number(id);
    if (this.isFlagged(id)) return unchanged("Flagged cards are not ranked. Press F to unflag it first.");
    const from = this.indexOf(id);
    const to = from + Math.sign(delta);
    if (to < 0) return unchanged("Already at the top.");
    if (to >= this.ranked.length) return unchanged("Already at the bottom.");
    return this.moveTo(id, to);
  }

  /** Put a ranked id at position `to` of the ranked list (where a drag dropped it). The entry
   * that followed it leads its tier if the moved one did, and the moved one joins the tier it
   * landed inside (when it landed between two tied entries). */
  moveTo(id, to) {
    id = Number(id);
    const from = this.indexOf(id);
    to = Math.max(0, Math.min(to, this.ranked.length - 1));
    if (from < 0 || from === to) return unchanged("");
    const [entry] = this.ranked.splice(from, 1);
    const follower = this.ranked[from]; // the entry that was just below the moved one
    if (!entry.tied && follower?.tied) follower.tied = false;
    this.ranked.splice(to, 0, entry);
    const above = this.ranked[to - 1];
    const below = this.ranked[to + 1];
    entry.tied = Boolean(above && below?.tied);
    this.normalize();
    this.touched = true;
    return { changed: true, message: `Moved to rank ${this.rankOf(id)}.` };
  }

  /** Tie an id with the entry above it, or undo that (T). */
  toggleTie(id) {
    id = Number(id);
    if (!this.allowTies) return unchanged("This project does not allow ties.");
    if (this.isFlagged(id)) return unchanged("A flagged card cannot be tied.");
    const index = this.indexOf(id);
    if (index < 0) return unchanged("");
    if (index === 0) return unchanged("The top card has nothing above it to tie with.");
    const entry = this.ranked[index];
    entry.tied = !entry.tied;
    this.touched = true;
    const rank = this.rankOf(id);
    return { changed: true, message: entry.tied ? `Tied at rank ${rank}.` : `Untied: now rank ${rank}.` };
  }

  /** Flag an id as nonsense (it leaves the ranking), or put it back at the bottom (F). */
  toggleFlag(id) {
    id = Number(id);
    this.touched = true;
    if (this.isFlagged(id)) {
      this.flagged = this.flagged.filter((other) => other !== id);
      this.ranked.push({ id, tied: false });
      this.normalize();
      return { changed: true, message: `Unflagged: now rank ${this.rankOf(id)}.` };
    }
    const index = this.indexOf(id);
    if (index < 0) return unchanged("");
    const [entry] = this.ranked.splice(index, 1);
    const follower = this.ranked[index];
    if (!entry.tied && follower?.tied) follower.tied = false;
    this.flagged.push(id);
    this.normalize();
    return { changed: true, message: "Flagged as nonsense: it is left out of the ranking." };
  }

  // ---- internals ----

  entry(id) {
    return this.ranked.find((entry) => entry.id === Number(id));
  }

  indexOf(id) {
    return this.ranked.findIndex((entry) => entry.id === Number(id));
  }

  /** The top entry has nothing above it to be tied with. */
  normalize() {
    if (this.ranked.length) this.ranked[0].tied = false;
  }
}

function unchanged(message) {
  return { changed: false, message };
}

/** Where a drop lands: the index of the slot under the pointer's `y`, given each list item's
 * layout box (`{top, bottom}`, in list order, the dragged item at `fromIndex` included). Over
 * another item the dragged one takes its place (before it when coming from below, after it when
 * coming from above), as SortableJS does on a drag-over; over its own slot, a gap or outside the
 * list it stays where it is. */
export function dropIndex(slots, fromIndex, y) {
  const under = slots.findIndex((slot) => y >= slot.top && y < slot.bottom);
  return under < 0 ? fromIndex : under;
}
