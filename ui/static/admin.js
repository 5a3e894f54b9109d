// The admin page's only script (served from this server, so the page's CSP can forbid
// inline script): while a form is being processed, which can take a while for a large
// upload, its button is disabled and the "正在建立索引…" message shows.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.classList || !form.classList.contains("uq-busy-form")) return;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  const busy = form.querySelector(".busy");
  if (busy) busy.hidden = false;
  // After the submission has started: a disabled button would not submit its form.
  setTimeout(() => form.querySelectorAll("button").forEach((b) => { b.disabled = true; }), 0);
});

// The file input itself is hidden under its button (site.css .file-picker): the chosen
// names are shown beside it instead, as text.
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!input.matches || !input.matches("input[type=file]")) return;
  const shown = input.form && input.form.querySelector(".file-names");
  if (!shown) return;
  const names = Array.from(input.files || [], (f) => f.name);
  shown.textContent = names.length ? `已选择 ${names.length} 个文件：${names.join("、")}` : "尚未选择文件";
});

// Tells the page (and its browser test) that the submit handler above is in place.
document.documentElement.dataset.uqReady = "1";
