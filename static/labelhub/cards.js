// Drawing a ranking on the page: one card per completion, placed and labelled from a
// RankingState. Model output (prompt and completions) is only ever inserted with textContent,
// never as HTML.

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

/** A card for `completion` from the page's <template>. */
export function makeCard(template, completion, shownPosition) {
  const card = template.content.firstElementChild.cloneNode(true);
  card.dataset.completionId = String(completion.id);
  card.dataset.tied = "false";
  card.dataset.shownPosition = String(shownPosition);
  const text = card.querySelector("[data-text]");
  text.id = `completion-text-${completion.id}`;
  const note = card.querySelector("[data-duplicate]");
  note.id = `completion-duplicate-${completion.id}`;
  // The card's name is its rank; its text (and a duplicate note, when shown) describe it.
  card.setAttribute("aria-describedby", text.id);
  renderText(text, completion.text);
  return card;
}

/** Put `cards` (in this order) into `container`, moving only those out of place. */
function placeInOrder(container, cards) {
  cards.forEach((card, index) => {
    const here = container.children[index];
    if (here !== card) container.insertBefore(card, here ?? null);
  });
}

/**
 * Place and label the cards from `state`. `cardsById`: Map(id → card element); `twins`:
 * Map(id → ids with the same text) from duplicatesOf. Keeps the focus on the card that had it.
 */
export function drawRanking(state, { list, flaggedList, cardsById, twins }) {
  const focused = document.activeElement;
  placeInOrder(list, state.order().map((id) => cardsById.get(id)));
  placeInOrder(flaggedList, state.flagged.map((id) => cardsById.get(id)));
  if (focused && focused !== document.activeElement && focused.isConnected) focused.focus({ preventScroll: true });

  const order = state.order();
  const tiedIds = new Set(state.ranked.filter((entry) => entry.tied).map((entry) => entry.id));
  order.forEach((id, index) => {
    const card = cardsById.get(id);
    const tied = tiedIds.has(id);
    const rank = state.rankOf(id);
    card.dataset.tied = String(tied);
    card.classList.toggle("is-tied", tied);
    card.classList.toggle("has-tie-below", tiedIds.has(order[index + 1]));
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
    setFlagButton(card, false);
  });
  for (const id of state.flagged) {
    const card = cardsById.get(id);
    card.dataset.tied = "false";
    card.classList.remove("is-tied", "has-tie-below");
    card.classList.add("is-flagged");
    card.querySelector("[data-rank]").textContent = "";
    card.setAttribute("aria-label", "Flagged as nonsense");
    const tie = card.querySelector('[data-action="tie"]');
    if (tie) tie.hidden = true;
    setFlagButton(card, true);
  }
  for (const [id, card] of cardsById) drawDuplicateNote(card, twins.get(id), state);
}

function setFlagButton(card, flagged) {
  const flag = card.querySelector('[data-action="flag"]');
  flag.setAttribute("aria-pressed", String(flagged));
  flag.textContent = flagged ? "Unflag" : "Flag";
}

/** "Same text as #2": where its twins are now (rank numbers change as the labeler ranks). */
function drawDuplicateNote(card, others, state) {
  const note = card.querySelector("[data-duplicate]");
  const text = card.querySelector("[data-text]");
  if (!others?.length) {
    note.hidden = true;
    card.setAttribute("aria-describedby", text.id);
    return;
  }
  const where = others.map((id) => (state.isFlagged(id) ? "a flagged card" : `#${state.rankOf(id)}`));
  note.querySelector("[data-duplicate-where]").textContent = [...new Set(where)].join(", ");
  note.hidden = false;
  card.dataset.duplicateOf = others.join(" ");
  card.setAttribute("aria-describedby", `${note.id} ${text.id}`);
}
