// The API client against a real HTTP server on this machine (node:http), not a stand-in for fetch.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import { test } from "node:test";

import { ApiClient, PendingStore, assignmentUrl, nextDelay } from "../../static/labelhub/api-client.js";

/** A server answering each request with the next of `statuses` (the last one repeats). */
async function serve(statuses, port = 0) {
  const seen = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      seen.push({ method: request.method, url: request.url, body, csrf: request.headers["x-csrftoken"] });
      const status = statuses[Math.min(seen.length - 1, statuses.length - 1)];
      response.writeHead(status, { "Content-Type": "application/json" });
      response.end(status === 204 ? undefined : JSON.stringify({ status }));
    });
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => server.close() };
}

test("waits grow from one second to fifteen at most", () => {
  const waits = [1000];
  while (waits.length < 6) waits.push(nextDelay(waits.at(-1)));
  assert.deepEqual(waits, [1000, 2000, 4000, 8000, 15000, 15000]);
});

test("an assignment's URL fills in the id", () => {
  assert.equal(assignmentUrl("/api/assignments/0/ranking/", 42), "/api/assignments/42/ranking/");
});

test("a ranking is sent again after passing server errors, and the wait starts over after an answer", async () => {
  const server = await serve([503, 502, 201]);
  const inflight = [];
  const api = new ApiClient({ csrf: "t0ken", onInflight: (n) => inflight.push(n), firstDelayMs: 10, maxDelayMs: 40 });
  const troubles = [];
  const body = { tiers: [[2], [1]], flagged: [], duration_ms: 5 };
  const response = await api.sendRanking(
    { method: "PUT", url: `${server.url}/api/assignments/7/ranking/`, body },
    (trouble) => troubles.push(trouble),
  );
  server.close();
  assert.equal(response.status, 201);
  assert.deepEqual(troubles, [{ offline: false, status: 503 }, { offline: false, status: 502 }]);
  assert.equal(server.seen.length, 3);
  assert.ok(server.seen.every((request) => request.method === "PUT" && request.csrf === "t0ken"));
  assert.deepEqual(JSON.parse(server.seen[2].body), body);
  assert.deepEqual(inflight, [1, 0, 1, 0, 1, 0]);
  assert.equal(api.delayMs, 10);
});

test("a 4xx is an answer: not repeated", async () => {
  const server = await serve([409]);
  const api = new ApiClient({ firstDelayMs: 10 });
  const response = await api.sendRanking({ method: "POST", url: `${server.url}/r/`, body: {} });
  server.close();
  assert.equal(response.status, 409);
  assert.equal(server.seen.length, 1);
});

test("without a connection it says offline and tries again; retryNow does not wait", async () => {
  const first = await serve([200]);
  first.close(); // nothing listens on this port now ...
  const port = new URL(first.url).port;
  const api = new ApiClient({ firstDelayMs: 60_000 });
  const troubles = [];
  let server = null;
  const answer = api.nextTask(`${first.url}/next/`, async (trouble) => {
    troubles.push(trouble);
    if (troubles.length === 2) server = await serve([204], port); // ... until the connection is back
    api.retryNow(); // as on the browser's "online" event: no minute-long wait
  });
  const response = await answer;
  server.close();
  assert.equal(response.status, 204);
  assert.deepEqual(troubles, [{ offline: true, status: 0 }, { offline: true, status: 0 }]);
  assert.equal(server.seen[0].method, "POST");
});

/** localStorage's interface over a Map. */
class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}

test("the pending ranking survives in storage until cleared", () => {
  const storage = new MemoryStorage();
  const store = new PendingStore(storage, "labelhub:pending:1:p");
  const pending = { kind: "revise", method: "PUT", url: "/api/assignments/3/ranking/", assignment: 3, body: { tiers: [[1]], flagged: [] } };
  store.save(pending);
  assert.deepEqual(new PendingStore(storage, "labelhub:pending:1:p").load("/api/assignments/0/ranking/"), pending);
  store.clear();
  assert.equal(store.load("/api/assignments/0/ranking/"), null);
});

test("a pending ranking saved by the page before revisions is a first submission", () => {
  const storage = new MemoryStorage();
  storage.setItem("k", JSON.stringify({ assignment: 9, body: { tiers: [[1]], flagged: [] } }));
  assert.deepEqual(new PendingStore(storage, "k").load("/api/assignments/0/ranking/"), {
    kind: "submit",
    method: "POST",
    url: "/api/assignments/9/ranking/",
    assignment: 9,
    body: { tiers: [[1]], flagged: [] },
  });
});

test("storage that is broken or refuses is no error", () => {
  const refusing = { getItem: () => "{not json", setItem: () => { throw new Error("QuotaExceededError"); }, removeItem() {} };
  const store = new PendingStore(refusing, "k");
  store.save({ assignment: 1, body: {} });
  assert.equal(store.load("/a/0/"), null);
  assert.equal(new PendingStore(null, "k").load("/a/0/"), null);
});
