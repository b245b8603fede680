// Project admin page: drag-and-drop onto the file field, and live generation progress.
"use strict";

document.querySelectorAll("[data-dropzone]").forEach((zone) => {
  const input = zone.querySelector("input[type=file]");
  const form = zone.closest("form");
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("dragging")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (!event.dataTransfer.files.length) return;
    input.files = event.dataTransfer.files;
    form.requestSubmit();
  });
});

document.querySelectorAll("[data-generation]").forEach((section) => {
  const status = section.querySelector("[data-generation-status]");
  const progress = section.querySelector("[data-generation-progress]");
  const missing = section.querySelector("[data-generation-missing]");
  async function refresh() {
    const response = await fetch(section.dataset.url, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const body = await response.json();
    missing.textContent = body.missing_completions;
    const job = body.job;
    if (!job) return;
    // textContent, never innerHTML: error messages come from the LLM server.
    status.textContent = `Job ${job.id}: ${job.status} — ${job.done} of ${job.total} generated, ${job.failed} failed`
      + (job.error ? ` (${job.error})` : "");
    progress.value = job.progress;
    if (job.status === "queued" || job.status === "running") setTimeout(refresh, 2000);
  }
  refresh();
});
