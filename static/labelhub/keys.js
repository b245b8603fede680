// The labeling page's clicks and keys, turned into the bench's actions.
//
// ↑/↓ focus, Alt+↑/↓ or K/J move the focused card (focus stays on it), T ties it with the card
// above, F flags it, Enter submits (or saves a revision), S skips, ? shows the instructions.

const TEXT_KEYS = new Set(["j", "k", "t", "f", "s"]);

/** A click on anything carrying data-action inside the bench. */
export function handleClick(bench, event) {
  const button = event.target.closest("[data-action]");
  if (!button || !bench.root.contains(button)) return;
  const card = button.closest("[data-completion-id]");
  switch (button.dataset.action) {
    case "tie":
      bench.change(card, (state, id) => state.toggleTie(id));
      break;
    case "flag":
      bench.change(card, (state, id) => state.toggleFlag(id), { keepInView: true });
      break;
    case "submit":
      bench.submit();
      break;
    case "save":
      bench.reviser.save();
      break;
    case "cancel-revision":
      bench.reviser.cancel();
      break;
    case "open-ranking":
      bench.reviser.open(Number(button.dataset.assignment));
      break;
    case "skip":
      bench.skip();
      break;
    case "keep-order":
      bench.confirmOrder();
      break;
    case "instructions":
      bench.toggleInstructions();
      break;
    case "close-instructions":
      bench.toggleInstructions(false);
      break;
  }
}

export function handleKey(bench, event) {
  if (event.ctrlKey || event.metaKey || event.defaultPrevented) return;
  const target = event.target instanceof Element ? event.target : document.body;
  if (target.closest("input, textarea, select, [contenteditable]")) return;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  const panel = bench.el.panel;
  const panelOpen = !panel.hidden;
  if (key === "?") {
    event.preventDefault();
    bench.toggleInstructions();
    return;
  }
  if (panelOpen && key === "Escape") {
    event.preventDefault();
    bench.toggleInstructions(false);
    return;
  }
  if (panelOpen && panel.contains(target)) return;
  if (!bench.shown || bench.el.task.hidden) return;

  const card = target.closest("[data-completion-id]");
  if (key === "ArrowUp" || key === "ArrowDown") {
    const delta = key === "ArrowUp" ? -1 : 1;
    if (event.altKey) {
      if (!card || bench.busy) return;
      event.preventDefault();
      bench.move(card, delta);
    } else if (card) {
      event.preventDefault();
      bench.focusNeighbour(card, delta);
    }
    return;
  }
  if (event.altKey) return;
  if (key === "Enter") {
    if (target.closest("button, a, summary")) return; // a focused button does its own job
    event.preventDefault();
    bench.submit();
    return;
  }
  if (!TEXT_KEYS.has(key)) return;
  event.preventDefault();
  if (key === "s") {
    bench.skip();
    return;
  }
  if (!card || bench.busy) {
    if (!card) bench.say("Focus a card first (Tab or arrow keys).");
    return;
  }
  if (key === "j") bench.move(card, 1);
  else if (key === "k") bench.move(card, -1);
  else if (key === "t") bench.change(card, (state, id) => state.toggleTie(id));
  else if (key === "f") bench.change(card, (state, id) => state.toggleFlag(id), { keepInView: true });
}
