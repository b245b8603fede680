import assert from "node:assert/strict";
import { test } from "node:test";

import { failureNotice, loadRetryNotice, sendRetryNotice, submitOutcome } from "../../static/labelhub/bench-page.js";

test("a submission's answer: stored, closed meanwhile, invalid, or kept for later", () => {
  assert.equal(submitOutcome({ ok: true, status: 201 }), "stored");
  assert.equal(submitOutcome({ ok: true, status: 200 }), "stored");
  assert.equal(submitOutcome({ ok: false, status: 409 }), "closed");
  assert.equal(submitOutcome({ ok: false, status: 404 }), "closed");
  assert.equal(submitOutcome({ ok: false, status: 400 }), "invalid");
  assert.equal(submitOutcome({ ok: false, status: 403 }), "failed");
  assert.equal(submitOutcome({ ok: false, status: 500 }), "failed");
});

test("signed out says the unsent work is kept; other failures show the server's detail", () => {
  assert.equal(
    failureNotice(403, "nope", "your ranking"),
    "You are signed out. Log in again in another tab; your ranking is kept in this browser.",
  );
  assert.match(failureNotice(401, "", "your judgement"), /your judgement is kept/);
  assert.equal(failureNotice(400, "Rank every completion.", "your ranking"), "Something went wrong (400): Rank every completion..");
  assert.equal(failureNotice(500, "", "your ranking"), "Something went wrong (500).");
});

test("retry notices tell offline from a server problem", () => {
  assert.equal(
    loadRetryNotice({ offline: true }),
    "You are offline — will load the next task when the connection is back.",
  );
  assert.equal(loadRetryNotice({ offline: false, status: 502 }), "The server had a problem (502) — trying again…");
  assert.equal(
    sendRetryNotice({ offline: true }, "will save your changes"),
    "You are offline — will save your changes as soon as the connection is back.",
  );
  assert.equal(sendRetryNotice({ offline: false, status: 503 }, "will resubmit"), "The server had a problem (503) — will resubmit.");
});
