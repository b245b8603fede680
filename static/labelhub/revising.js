// Correcting a submitted ranking: reopen it from "Your recent rankings" (GET of the ranking),
// change it in the same ranking UI, "Save changes" (PUT, the server keeps the earlier revision),
// then back to the current task exactly as the labeler left it.

import { assignmentUrl } from "./api-client.js";
import { RankingState } from "./ranking-state.js";

export class Reviser {
  constructor(bench) {
    this.bench = bench;
    this.current = null; // {assignment, revision, loaded, state} while an earlier ranking is open
    this.wanted = null; // an assignment to open as soon as the page is free
  }

  /** Nothing changed since it was opened: "Save changes" stays disabled. */
  unchanged() {
    return !this.current || this.current.state.sameRankingAs(this.current.loaded);
  }

  async open(assignment) {
    const bench = this.bench;
    if (this.current?.assignment === assignment) return;
    if (bench.busy) {
      this.wanted = assignment; // e.g. the next task is still loading
      return;
    }
    bench.setBusy(true);
    const url = assignmentUrl(bench.urls.ranking, assignment);
    const response = await bench.api.getJson(url, ({ offline, status }) =>
      bench.showStatus(
        offline
          ? "You are offline — will open that ranking when the connection is back."
          : `The server had a problem (${status}) — trying again…`,
        "offline",
      ),
    );
    if (!response.ok) {
      bench.showFailure(response);
      bench.setBusy(false);
      return;
    }
    const ranking = await response.json();
    if (!this.current) bench.taskElapsed = bench.task ? performance.now() - bench.shownAt : 0;
    const shownIds = ranking.completions.map((completion) => completion.id);
    const state = RankingState.fromRanking(shownIds, ranking.tiers, ranking.flagged, { allowTies: bench.allowTies });
    this.current = { assignment: ranking.assignment, revision: ranking.revision, loaded: state.clone(), state };
    bench.showStatus("");
    bench.show(ranking, state);
    bench.shownAt = performance.now();
    bench.say(`Your ranking of this prompt is open (revision ${ranking.revision}). Change it, then save.`);
  }

  /** Called whenever the page is free again. */
  openWanted() {
    if (this.wanted == null) return;
    const assignment = this.wanted;
    this.wanted = null;
    queueMicrotask(() => this.open(assignment));
  }

  save() {
    const bench = this.bench;
    if (bench.busy || !this.current) return;
    if (this.unchanged()) {
      bench.say("Nothing has changed yet.");
      return;
    }
    bench.send({
      kind: "revise",
      method: "PUT",
      url: assignmentUrl(bench.urls.ranking, this.current.assignment),
      assignment: this.current.assignment,
      body: { ...this.current.state.toBody(), duration_ms: bench.elapsed() },
    });
  }

  /** The server's answer to the PUT (after retries of lost connections and 5xx). */
  async saved(response) {
    const bench = this.bench;
    if (response.ok) {
      bench.clearPending();
      let number = "";
      try {
        number = (await response.json()).revision ?? "";
      } catch {
        // not JSON: the changes are saved all the same
      }
      bench.showStatus(`Your changes are saved${number ? ` (revision ${number})` : ""}. Back to the current task.`);
      bench.say("Changes saved.");
      bench.recent.refresh();
      this.backToTask();
    } else if (response.status === 400 && this.current) {
      bench.clearPending();
      bench.showFailure(response);
      bench.setBusy(false);
    } else if ([400, 404, 409].includes(response.status)) {
      bench.clearPending();
      bench.showFailure(response);
      this.backToTask();
    } else {
      bench.showFailure(response); // e.g. signed out: the changes stay saved in this browser
    }
  }

  cancel() {
    if (this.bench.busy || !this.current) return;
    this.bench.showStatus("");
    this.backToTask();
  }

  /** Leave the revision for the task the labeler was on, as they left it. */
  backToTask() {
    const bench = this.bench;
    this.current = null;
    bench.recent.markOpen(null);
    if (bench.task) {
      bench.showTask(bench.taskElapsed);
    } else if (bench.exhausted) {
      bench.showNothingLeft();
    } else {
      bench.loadNext();
    }
  }
}
