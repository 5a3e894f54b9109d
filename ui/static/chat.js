() => {
  // The embedded chat (?embed=1) drops the page header: the portal around it has its own.
  if (new URLSearchParams(window.location.search).has("embed")) {
    document.documentElement.classList.add("uq-embed");
  }
  if (window.__uqSources) return;
  window.__uqSources = true;

  // A click on a citation marker [n] shows that citation's source panel, which
  // the server rendered (escaped) into the answer and left hidden. Listening on
  // the document survives Gradio re-rendering the messages.
  document.addEventListener(
    "click",
    (event) => {
      const link = event.target.closest ? event.target.closest("a.uq-cite, a.uq-close") : null;
      const answer = link ? link.closest(".uq-answer") : null;
      if (!answer) return;
      event.preventDefault();
      event.stopPropagation();
      const n = (link.getAttribute("href") || "").replace("#uq-src-", "");
      const panel = answer.querySelector(".uq-source.uq-src-" + CSS.escape(n));
      const open = link.classList.contains("uq-cite") && panel && panel.hidden;
      answer.querySelectorAll(".uq-source").forEach((p) => { p.hidden = true; });
      answer.querySelectorAll("a.uq-cite").forEach((a) => {
        a.classList.toggle("uq-active", open && a.getAttribute("href") === "#uq-src-" + n);
      });
      if (open) {
        panel.hidden = false;
        panel.scrollIntoView({ block: "nearest", behavior: "smooth" });
      }
    },
    true,
  );
}
