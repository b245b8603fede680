// "Your recent rankings": the labeler's last rankings, newest first, each a button that opens it
// for revision. Prompt text is shown as text, never HTML.

const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** `entries`: `[{assignment, prompt: {id, text}, submitted, revised, revision}]` from
 * `GET /api/projects/{slug}/my-rankings/`, newest first. */
export function drawRecent({ list, empty }, entries) {
  list.replaceChildren(...entries.map(recentItem));
  empty.hidden = entries.length > 0;
}

/** Mark the entry being revised (`assignment`, or null for none). */
export function markOpen(list, assignment) {
  for (const button of list.querySelectorAll('[data-action="open-ranking"]')) {
    if (Number(button.dataset.assignment) === assignment) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

function recentItem(entry) {
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "recent-item";
  button.dataset.action = "open-ranking";
  button.dataset.assignment = String(entry.assignment);
  const prompt = document.createElement("span");
  prompt.className = "recent-prompt";
  prompt.textContent = oneLine(entry.prompt?.text ?? "");
  const meta = document.createElement("span");
  meta.className = "recent-meta";
  meta.textContent = describe(entry);
  button.append(prompt, meta);
  item.append(button);
  return item;
}

function describe(entry) {
  const revision = Number(entry.revision) || 1;
  const latest = revision > 1 && entry.revised ? entry.revised : entry.submitted;
  const when = latest ? WHEN.format(new Date(latest)) : "";
  return revision > 1 ? `Changed ${when} · revision ${revision}` : `Submitted ${when}`;
}

function oneLine(text) {
  return String(text).replace(/\s+/g, " ").trim();
}

/** The entry for a ranking just submitted on this page, so the list need not be fetched again. */
export function entryForSubmitted(task) {
  const now = new Date().toISOString();
  return { assignment: task.assignment, prompt: task.prompt, submitted: now, revised: null, revision: 1 };
}

/** The list on the page: fetched once when the page opens and after a revision is saved;
 * a ranking submitted here is added without asking the server (no extra request per ranking). */
export class RecentList {
  constructor({ list, empty, url, api, max = 50 }) {
    Object.assign(this, { list, empty, url, api, max });
    this.entries = [];
    this.added = []; // entries added on this page, newest last
    this.open = null;
  }

  async refresh() {
    if (!this.url) return;
    const addedBefore = this.added.length;
    let fetched;
    try {
      const response = await this.api.request("GET", this.url);
      if (!response.ok) return;
      fetched = await response.json();
    } catch {
      return; // offline: the list stays as it was
    }
    // Rankings submitted while the list was on its way may be missing from it: keep them on top.
    this.entries = fetched;
    for (const entry of this.added.slice(addedBefore)) this.put(entry);
    this.draw();
  }

  add(entry) {
    this.added.push(entry);
    this.put(entry);
    this.draw();
  }

  put(entry) {
    this.entries = [entry, ...this.entries.filter((other) => other.assignment !== entry.assignment)].slice(0, this.max);
  }

  /** Mark the entry being revised (an assignment id, or null). */
  markOpen(assignment) {
    this.open = assignment;
    markOpen(this.list, assignment);
  }

  draw() {
    drawRecent({ list: this.list, empty: this.empty }, this.entries);
    markOpen(this.list, this.open);
  }
}
