// Dragging cards by their handle with SortableJS, by its public options only.
//
// Sortable's pointer-driven mode (the same behaviour with mouse, pen and touch) looks for the drop
// place only every 50 ms, so a quick flick released in between lands short of where the pointer
// is. On `onEnd`, whose event carries the release (`originalEvent`), the drop is settled once
// more from the cards' layout boxes: a release over another card puts the dragged one in its
// place, as one more drag-over would have done.

import { dropIndex } from "./ranking-state.js";

/** Make `list` sortable; `onDrop(card, newIndex)` when a card was dropped somewhere new. */
export function makeSortable(list, { onDrop }) {
  return window.Sortable.create(list, {
    handle: "[data-handle]",
    animation: window.matchMedia("(prefers-reduced-motion: reduce)").matches ? 0 : 150,
    forceFallback: true,
    fallbackTolerance: 3,
    ghostClass: "is-ghost",
    chosenClass: "is-chosen",
    dragClass: "is-dragging",
    onEnd: (event) => {
      const card = event.item;
      const cards = [...list.children].filter((child) => child.matches("[data-completion-id]"));
      let index = cards.indexOf(card);
      const point = releasePoint(event.originalEvent);
      if (point) {
        const settled = dropIndex(layoutSlots(cards), index, point.y - list.getBoundingClientRect().top);
        if (settled !== index) {
          const target = cards[settled];
          if (settled > index) target.after(card);
          else target.before(card);
          index = settled;
        }
      }
      absorbSwallowedClick(list);
      if (index !== event.oldIndex) onDrop(card, index);
    },
  });
}

/** After a pointer-driven drag in which Sortable itself did not move the card (a quick flick, or
 * a card dropped back on its own place), Sortable swallows the next click on the page: its guard
 * against the click a browser sends after releasing the mouse on the dragged card (SortableJS
 * #1184). The browser does not always send one, and then the labeler's next click (on Submit,
 * say) would be lost. A click on the list itself, which does nothing here, is offered instead:
 * it is swallowed if Sortable is waiting for one, and ignored otherwise. */
function absorbSwallowedClick(list) {
  list.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true }));
}

/** Where the pointer was released (pointerup, mouseup or touchend). */
function releasePoint(event) {
  const point = event?.changedTouches?.[0] ?? event;
  if (!point || typeof point.clientY !== "number") return null;
  return { x: point.clientX, y: point.clientY };
}

/** Each card's box in the list's own coordinates, from layout (offsetTop), not from the screen:
 * cards still sliding into place (Sortable's animation) are where they will end up. The list is
 * `position: relative`, so it is the cards' offsetParent. */
function layoutSlots(cards) {
  return cards.map((card) => ({ top: card.offsetTop, bottom: card.offsetTop + card.offsetHeight }));
}
