// The export page: rows of queued or running exports poll the API and move their progress bar
// until the export is done (then the download button appears) or failed.
(function () {
  "use strict";
  const POLL_MS = 1000;

  function render(row, data) {
    row.dataset.status = data.status;
    row.querySelector("[data-export-status]").textContent = data.status;
    row.querySelector("[data-export-progress]").value = data.progress;
    if (data.status === "done") {
      const counts = data.counts || {};
      row.querySelector("[data-export-counts]").textContent = `${counts.pairs} pairs · ${counts.prompts} prompts`;
      row.querySelector("[data-action='download']").hidden = false;
    }
    if (data.status === "failed" && data.error) {
      const error = document.createElement("p");
      error.className = "error";
      error.textContent = data.error;  // text, never HTML
      row.querySelector("[data-export-status]").after(error);
    }
  }

  function follow(row) {
    const poll = async () => {
      try {
        const response = await fetch(row.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (response.ok) {
          const data = await response.json();
          render(row, data);
          if (data.status === "done" || data.status === "failed") return;
        }
      } catch (error) {
        // Offline for a moment: try again on the next tick.
      }
      setTimeout(poll, POLL_MS);
    };
    setTimeout(poll, POLL_MS / 2);
  }

  // Deleting removes the export's files for good: ask first (here, not inline: the CSP forbids inline script).
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  document.querySelectorAll("tr[data-export]").forEach((row) => {
    if (row.dataset.status === "queued" || row.dataset.status === "running") follow(row);
  });
})();
