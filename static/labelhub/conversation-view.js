// A conversation shown as turns: a role label and the turn's text (as text, never HTML), the
// last turns only until the labeler asks for the earlier ones. `visibleTurns` is the pure part.

import { renderText } from "./cards.js";

export const KEEP_LAST = 4; // turns shown before "show earlier": the last exchanges carry the context

const ROLE_LABELS = { system: "System", user: "User", assistant: "Assistant" };

/** {hidden, shown}: how many turns are folded away and the turns to show, oldest first. A single
 * hidden turn is shown instead (a button to reveal one turn saves no space). */
export function visibleTurns(messages, { keep = KEEP_LAST, expanded = false } = {}) {
  const turns = messages ?? [];
  if (expanded || turns.length <= keep + 1) return { hidden: 0, shown: turns };
  return { hidden: turns.length - keep, shown: turns.slice(-keep) };
}

export function roleLabel(role) {
  return ROLE_LABELS[role] ?? String(role);
}

/** Draw `prompt` ({text, messages}) into `container`: plain text, or the conversation's turns. */
export function renderPrompt(container, prompt, { expanded = false } = {}) {
  container.classList.toggle("is-conversation", Boolean(prompt.messages));
  if (!prompt.messages) {
    renderText(container, prompt.text);
    return;
  }
  const { hidden, shown } = visibleTurns(prompt.messages, { expanded });
  const parts = [];
  if (hidden) {
    const more = document.createElement("button");
    more.type = "button";
    more.className = "link show-earlier";
    more.dataset.showEarlier = "";
    more.textContent = `Show ${hidden} earlier ${hidden === 1 ? "turn" : "turns"}`;
    more.addEventListener("click", () => {
      renderPrompt(container, prompt, { expanded: true });
      container.querySelector(".turn")?.focus?.();
    });
    parts.push(more);
  }
  const list = document.createElement("ol");
  list.className = "turns";
  list.setAttribute("aria-label", "Conversation");
  shown.forEach((message, index) => {
    const turn = document.createElement("li");
    turn.className = `turn turn-${message.role}`;
    turn.dataset.role = message.role;
    turn.tabIndex = -1;
    const role = document.createElement("span");
    role.className = "turn-role";
    role.textContent = roleLabel(message.role);
    const text = document.createElement("div");
    text.className = "turn-text";
    renderText(text, message.content);
    if (index === shown.length - 1) turn.classList.add("is-last");
    turn.append(role, text);
    list.append(turn);
  });
  parts.push(list);
  container.replaceChildren(...parts);
}
