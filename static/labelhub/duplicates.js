// Completions whose texts are the same (a model at temperature 0 may answer twice alike): the
// page marks them so labelers are not puzzled. Pure, unit-tested in tests/js/.

/** The text as compared: trimmed, runs of whitespace as one space, case ignored. Upper- then
 * lower-casing folds case as the server's `" ".join(text.split()).casefold()` does ("Straße" and
 * "STRASSE" are the same), so the page marks what generation and the export treat as identical. */
export function normalizeText(text) {
  return String(text).trim().replace(/\s+/g, " ").toUpperCase().toLowerCase();
}

/** For each completion id with a twin, the ids of the others with the same normalized text, in
 * the order given: `Map(id → [other ids])`. Completions with a text of their own are absent. */
export function duplicatesOf(completions) {
  const byText = new Map();
  for (const { id, text } of completions) {
    const key = normalizeText(text);
    if (!byText.has(key)) byText.set(key, []);
    byText.get(key).push(Number(id));
  }
  const twins = new Map();
  for (const ids of byText.values()) {
    if (ids.length < 2) continue;
    for (const id of ids) twins.set(id, ids.filter((other) => other !== id));
  }
  return twins;
}
