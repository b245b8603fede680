// A thumbs judgement in progress: each shown completion up, down or flagged (pure, no DOM).
// The body it makes is the API's: {"thumbs": {"<id>": "up"|"down"}, "flagged": [ids]}.

export const VERDICTS = ["up", "down", "flag"];

export class ThumbsState {
  constructor(shownIds) {
    this.ids = shownIds.map(Number);
    this.verdicts = new Map(); // id → "up" | "down" | "flag"
  }

  verdictOf(id) {
    return this.verdicts.get(Number(id)) ?? null;
  }

  /** Give `id` a verdict; the same verdict again takes it back. → {changed, message} */
  set(id, verdict) {
    id = Number(id);
    if (!VERDICTS.includes(verdict) || !this.ids.includes(id)) return { changed: false, message: "" };
    const position = this.ids.indexOf(id) + 1;
    if (this.verdicts.get(id) === verdict) {
      this.verdicts.delete(id);
      return { changed: true, message: `Completion ${position}: cleared.` };
    }
    this.verdicts.set(id, verdict);
    const said = { up: "thumbs up", down: "thumbs down", flag: "flagged as nonsense" }[verdict];
    const left = this.remaining().length;
    return { changed: true, message: `Completion ${position}: ${said}.${left ? ` ${left} left.` : " All judged: Enter submits."}` };
  }

  /** Ids still without a verdict, in the order shown. */
  remaining() {
    return this.ids.filter((id) => !this.verdicts.has(id));
  }

  /** The first id after `id` (in the order shown, wrapping) still without a verdict, or null. */
  nextUnjudged(id) {
    const start = this.ids.indexOf(Number(id));
    for (let step = 1; step <= this.ids.length; step += 1) {
      const candidate = this.ids[(start + step) % this.ids.length];
      if (!this.verdicts.has(candidate)) return candidate;
    }
    return null;
  }

  isComplete() {
    return this.ids.length > 0 && this.remaining().length === 0;
  }

  toBody() {
    const thumbs = {};
    const flagged = [];
    for (const id of this.ids) {
      const verdict = this.verdicts.get(id);
      if (verdict === "flag") flagged.push(id);
      else if (verdict) thumbs[String(id)] = verdict;
    }
    return { thumbs, flagged };
  }
}
