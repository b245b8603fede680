// The instructions page: while an admin writes the new version, the preview shows exactly what
// labelers will see. The server renders it (same Markdown settings, same sanitizer as the labeling
// page), so the HTML it returns is safe to insert; a slower, older answer never overwrites a newer one.
const DELAY_MS = 300;

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

function wire(form) {
  const input = form.querySelector("[data-instructions-input]");
  const preview = form.querySelector("[data-instructions-preview]");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let sent = 0;
  let shown = 0;

  const refresh = async () => {
    const request = ++sent;
    form.dataset.previewState = "loading";
    try {
      const response = await fetch(form.dataset.previewUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ text: input.value }),
      });
      if (!response.ok || request < shown) return;
      const data = await response.json();
      shown = request;
      preview.innerHTML = data.html; // sanitized by the server (annotations/instructions.py render_markdown)
      form.dataset.previewState = request === sent ? "ready" : "loading";
    } catch (error) {
      form.dataset.previewState = "offline"; // the next keystroke tries again
    }
  };
  input.addEventListener("input", debounce(refresh, DELAY_MS));
}

document.querySelectorAll("[data-instructions-form]").forEach(wire);
