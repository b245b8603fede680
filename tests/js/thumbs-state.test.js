import assert from "node:assert/strict";
import { test } from "node:test";

import { ThumbsState } from "../../static/labelhub/thumbs-state.js";

test("every completion judged makes the API's body", () => {
  const state = new ThumbsState([7, 3, 9]);
  state.set(7, "up");
  state.set("3", "down");
  assert.equal(state.isComplete(), false);
  state.set(9, "flag");
  assert.equal(state.isComplete(), true);
  assert.deepEqual(state.toBody(), { thumbs: { 7: "up", 3: "down" }, flagged: [9] });
});

test("the same verdict again clears it; another one replaces it", () => {
  const state = new ThumbsState([1, 2]);
  state.set(1, "up");
  assert.equal(state.set(1, "up").message, "Completion 1: cleared.");
  assert.equal(state.verdictOf(1), null);
  state.set(1, "down");
  state.set(1, "flag");
  assert.deepEqual(state.toBody(), { thumbs: {}, flagged: [1] });
});

test("the next unjudged completion wraps around; none left is null", () => {
  const state = new ThumbsState([1, 2, 3]);
  state.set(2, "up");
  assert.equal(state.nextUnjudged(1), 3);
  state.set(3, "down");
  assert.equal(state.nextUnjudged(3), 1);
  state.set(1, "up");
  assert.equal(state.nextUnjudged(1), null);
});

test("unknown ids and verdicts change nothing", () => {
  const state = new ThumbsState([1]);
  assert.equal(state.set(5, "up").changed, false);
  assert.equal(state.set(1, "meh").changed, false);
  assert.deepEqual(state.remaining(), [1]);
});

test("the message says how many are left, then that Enter submits", () => {
  const state = new ThumbsState([1, 2]);
  assert.equal(state.set(1, "up").message, "Completion 1: thumbs up. 1 left.");
  assert.equal(state.set(2, "flag").message, "Completion 2: flagged as nonsense. All judged: Enter submits.");
});
