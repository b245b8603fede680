import assert from "node:assert/strict";
import { test } from "node:test";

import { KEEP_LAST, roleLabel, visibleTurns } from "../../static/labelhub/conversation-view.js";

const turns = (n) => Array.from({ length: n }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `t${i}` }));

test("a short conversation is shown whole", () => {
  assert.deepEqual(visibleTurns(turns(3)), { hidden: 0, shown: turns(3) });
});

test("a long conversation shows its last turns and counts the hidden ones", () => {
  const { hidden, shown } = visibleTurns(turns(11));
  assert.equal(hidden, 11 - KEEP_LAST);
  assert.deepEqual(shown.map((m) => m.content), ["t7", "t8", "t9", "t10"]);
});

test("one hidden turn is shown rather than folded", () => {
  assert.equal(visibleTurns(turns(KEEP_LAST + 1)).hidden, 0);
  assert.equal(visibleTurns(turns(KEEP_LAST + 2)).hidden, 2);
});

test("expanded shows every turn; a plain prompt has none", () => {
  assert.equal(visibleTurns(turns(20), { expanded: true }).shown.length, 20);
  assert.deepEqual(visibleTurns(null), { hidden: 0, shown: [] });
});

test("roles get readable labels", () => {
  assert.equal(roleLabel("assistant"), "Assistant");
  assert.equal(roleLabel("system"), "System");
});
