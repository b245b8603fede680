// The ranking a labeler builds on the page, without a browser: node --test tests/js/
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { RankingState, dropIndex } from "../../static/labelhub/ranking-state.js";

const state = (ids = [1, 2, 3, 4], options) => new RankingState(ids, options);

describe("a new ranking", () => {
  test("keeps the order shown, one completion a tier", () => {
    assert.deepEqual(state().tiers(), [[1], [2], [3], [4]]);
  });

  test("is not complete until the labeler made the order their own", () => {
    const ranking = state();
    assert.equal(ranking.isComplete(), false);
    ranking.confirmOrder();
    assert.equal(ranking.isComplete(), true);
    assert.deepEqual(ranking.toBody(), { tiers: [[1], [2], [3], [4]], flagged: [] });
  });

  test("of nothing is never complete", () => {
    const ranking = state([]);
    ranking.confirmOrder();
    assert.equal(ranking.isComplete(), false);
  });
});

describe("moves", () => {
  test("one place up and down, as K and J", () => {
    const ranking = state();
    assert.equal(ranking.move(4, -1).message, "Moved to rank 3.");
    assert.deepEqual(ranking.order(), [1, 2, 4, 3]);
    ranking.move(1, +1);
    assert.deepEqual(ranking.order(), [2, 1, 4, 3]);
    assert.equal(ranking.isComplete(), true);
  });

  test("stop at the ends and say so", () => {
    const ranking = state();
    assert.deepEqual(ranking.move(1, -1), { changed: false, message: "Already at the top." });
    assert.deepEqual(ranking.move(4, 1), { changed: false, message: "Already at the bottom." });
    assert.equal(ranking.touched, false);
  });

  test("a flagged completion does not move", () => {
    const ranking = state();
    ranking.toggleFlag(2);
    assert.equal(ranking.move(2, -1).changed, false);
    assert.match(ranking.move(2, -1).message, /unflag/);
  });

  test("a drop to the same place changes nothing", () => {
    const ranking = state();
    ranking.toggleTie(2);
    assert.equal(ranking.moveTo(1, 0).changed, false);
    assert.deepEqual(ranking.tiers(), [[1, 2], [3], [4]]);
  });

  test("moving the head of a tie away leaves the rest of the tie together, at the head's place", () => {
    const ranking = state();
    ranking.toggleTie(3); // [1], [2, 3], [4]
    ranking.moveTo(2, 0);
    assert.deepEqual(ranking.tiers(), [[2], [1], [3], [4]]);
  });

  test("a card dropped inside a tie joins it", () => {
    const ranking = state();
    ranking.toggleTie(2); // [1, 2], [3], [4]
    ranking.moveTo(4, 1);
    assert.deepEqual(ranking.order(), [1, 4, 2, 3]);
    assert.deepEqual(ranking.tiers(), [[1, 4, 2], [3]]);
  });

  test("a card moved to the top is never tied with nothing", () => {
    const ranking = state();
    ranking.toggleTie(2);
    ranking.moveTo(2, 0);
    assert.deepEqual(ranking.tiers(), [[2], [1], [3], [4]]);
  });
});

describe("ties", () => {
  test("T ties with the card above, and again undoes it", () => {
    const ranking = state();
    assert.equal(ranking.toggleTie(3).message, "Tied at rank 2.");
    assert.deepEqual(ranking.tiers(), [[1], [2, 3], [4]]);
    assert.equal(ranking.rankOf(4), 3);
    assert.equal(ranking.toggleTie(3).message, "Untied: now rank 3.");
    assert.deepEqual(ranking.tiers(), [[1], [2], [3], [4]]);
  });

  test("the top card has nothing to tie with", () => {
    assert.equal(state().toggleTie(1).changed, false);
  });

  test("only where the project allows them", () => {
    const ranking = state([1, 2], { allowTies: false });
    assert.deepEqual(ranking.toggleTie(2), { changed: false, message: "This project does not allow ties." });
  });

  test("are counted, for the reminder past one", () => {
    const ranking = state();
    ranking.toggleTie(2);
    ranking.toggleTie(4);
    assert.equal(ranking.tieCount(), 2);
  });
});

describe("flags", () => {
  test("F takes a completion out of the ranking, and again puts it back at the bottom", () => {
    const ranking = state();
    ranking.toggleFlag(2);
    assert.deepEqual(ranking.toBody(), { tiers: [[1], [3], [4]], flagged: [2] });
    assert.equal(ranking.rankOf(2), 0);
    assert.equal(ranking.isComplete(), true);
    assert.equal(ranking.toggleFlag(2).message, "Unflagged: now rank 4.");
    assert.deepEqual(ranking.tiers(), [[1], [3], [4], [2]]);
  });

  test("flagging the head of a tie lets the next card lead its own tier", () => {
    const ranking = state();
    ranking.toggleTie(3); // [1], [2, 3], [4]
    ranking.toggleFlag(2);
    assert.deepEqual(ranking.tiers(), [[1], [3], [4]]);
  });

  test("flagging the top card of a tie keeps the top untied", () => {
    const ranking = state();
    ranking.toggleTie(2);
    ranking.toggleFlag(1);
    assert.deepEqual(ranking.tiers(), [[2], [3], [4]]);
  });

  test("every card may be flagged", () => {
    const ranking = state([1, 2]);
    ranking.toggleFlag(1);
    ranking.toggleFlag(2);
    assert.deepEqual(ranking.toBody(), { tiers: [], flagged: [1, 2] });
    assert.equal(ranking.isComplete(), true);
  });
});

describe("an earlier ranking", () => {
  test("loads with its tiers and flags, ready to revise", () => {
    const ranking = RankingState.fromRanking([1, 2, 3, 4, 5], [[3], [1, 4], [2]], [5]);
    assert.deepEqual(ranking.order(), [3, 1, 4, 2]);
    assert.deepEqual(ranking.toBody(), { tiers: [[3], [1, 4], [2]], flagged: [5] });
    assert.equal(ranking.isComplete(), true);
  });

  test("compares with the loaded one, the order inside a tie aside", () => {
    const loaded = RankingState.fromRanking([1, 2, 3], [[1, 2], [3]], []);
    const revised = loaded.clone();
    assert.ok(revised.sameRankingAs(loaded));
    assert.ok(RankingState.fromRanking([1, 2, 3], [[2, 1], [3]], []).sameRankingAs(loaded));
    revised.move(3, -1);
    assert.ok(!revised.sameRankingAs(loaded));
    assert.deepEqual(loaded.tiers(), [[1, 2], [3]]); // the clone changed alone
  });
});

describe("dropIndex", () => {
  const slots = [
    { top: 0, bottom: 90 },
    { top: 100, bottom: 190 },
    { top: 200, bottom: 290 },
    { top: 300, bottom: 390 },
  ];

  test("a card released over another takes its place", () => {
    assert.equal(dropIndex(slots, 3, 5), 0); // from below: before it
    assert.equal(dropIndex(slots, 0, 260), 2); // from above: after it
  });

  test("released over its own slot, a gap or outside the list, it stays", () => {
    assert.equal(dropIndex(slots, 1, 150), 1);
    assert.equal(dropIndex(slots, 1, 195), 1);
    assert.equal(dropIndex(slots, 1, -40), 1);
    assert.equal(dropIndex(slots, 1, 900), 1);
  });
});
