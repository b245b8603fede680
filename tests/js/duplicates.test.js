import assert from "node:assert/strict";
import { test } from "node:test";

import { duplicatesOf, normalizeText } from "../../static/labelhub/duplicates.js";

test("normalized text ignores surrounding space, runs of whitespace and case", () => {
  assert.equal(normalizeText("  Paris  is\n\tthe   CAPITAL.  "), "paris is the capital.");
  assert.equal(normalizeText("Paris."), normalizeText("paris.\n"));
  assert.notEqual(normalizeText("Paris."), normalizeText("Paris"));
  assert.equal(normalizeText(""), "");
  assert.equal(normalizeText("Straße"), normalizeText("STRASSE")); // folded like Python's casefold()
  assert.equal(normalizeText("ΣΊΣΥΦΟΣ"), normalizeText("σίσυφος"));
});

test("completions with the same normalized text are each other's duplicates", () => {
  const twins = duplicatesOf([
    { id: 1, text: "It is Paris." },
    { id: 2, text: "Lyon." },
    { id: 3, text: "it is  paris. " },
    { id: 4, text: "IT IS PARIS." },
    { id: 5, text: "lyon" },
  ]);
  assert.deepEqual(twins.get(1), [3, 4]);
  assert.deepEqual(twins.get(3), [1, 4]);
  assert.deepEqual(twins.get(4), [1, 3]);
  assert.equal(twins.has(2), false);
  assert.equal(twins.has(5), false);
});

test("no duplicates, no entries", () => {
  assert.equal(duplicatesOf([{ id: 1, text: "a" }, { id: 2, text: "b" }]).size, 0);
});
