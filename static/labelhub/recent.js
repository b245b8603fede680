// "Your recent rankings": the labeler's last rankings, newest first, each a button that opens it
// for revision. Prompt text is shown as text, never HTML.

const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** `entries`: `[{assignment, prompt: {id, text}, submitted, revised, revision}]` from
 * `GET /api/projects/{slug}/my-rankings/`, newest first. */
export function drawRecent({ list, empty }, entries) {
  list.replaceChildren(...entries.map(recentItem));
  empty.hidden = entries.length > 0;
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
