() => {
  // The embedded chat (?embed=1) drops the page header: the portal around it has its own.
  if (new URLSearchParams(window.location.search).has("embed")) {
    document.documentElement.classList.add("uq-embed");
  }
  if (window.__uqSources) return;
  window.__uqSources = true;
  const embedded = document.documentElement.classList.contains("uq-embed");

  // Accessible names in Chinese. Gradio names each message "bot's message: " followed by
  // its raw HTML, the message list "chatbot conversation", a toast's close button "Close";
  // they are renamed here each time Gradio sets them (again on every update of a message).
  const GRADIO_NAMES = { "chatbot conversation": "对话记录", "Close": "关闭" };
  const LIMIT = 200; // characters of a message read out as its name; the message itself follows
  const rename = (el) => {
    const label = el.getAttribute("aria-label") || "";
    if (GRADIO_NAMES[label]) {
      el.setAttribute("aria-label", GRADIO_NAMES[label]);
      return;
    }
    const found = /^(\w+)'s message: ([\s\S]*)$/.exec(label);
    if (!found) return;
    const user = found[1] === "user";
    // The message's own HTML, from the label: the element may not have its content yet. Parsed
    // into an inert document (no script runs, nothing loads), for its text only.
    const message = new DOMParser().parseFromString(found[2], "text/html").body;
    const main = message.querySelector(".uq-text, .uq-refusal, .uq-streaming, .uq-pending, .uq-error") || message;
    const text = (main.textContent || "").replace(/\s+/g, " ").trim();
    el.setAttribute("aria-label", (user ? "您的问题：" : "回答：") + (text.length > LIMIT ? text.slice(0, LIMIT) + "…" : text));
  };
  // Toast titles: Gradio shows the toast's type, capitalised ("Warning", "Info"), whatever
  // title the server gives; the text node is set once per toast, so renaming it holds.
  const TOAST_TITLES = { Warning: "注意", Info: "提示", Error: "错误", Success: "完成" };
  const titleToasts = (root) => {
    root.querySelectorAll(".toast-title").forEach((title) => {
      title.childNodes.forEach((node) => {
        const word = node.nodeType === 3 ? node.nodeValue.trim() : "";
        if (TOAST_TITLES[word]) node.nodeValue = TOAST_TITLES[word] + " ";
      });
    });
  };
  const renameAll = () => {
    document.querySelectorAll("[aria-label]").forEach(rename);
    titleToasts(document);
  };
  new MutationObserver((changes) => {
    for (const change of changes) {
      if (change.type === "attributes") rename(change.target);
      else if (change.type === "characterData") {
        const title = change.target.parentElement && change.target.parentElement.closest(".toast-title");
        if (title) titleToasts(title.parentElement);
      } else change.addedNodes.forEach((n) => {
        if (n.nodeType === 3 && n.parentElement && n.parentElement.closest(".toast-title")) {
          titleToasts(n.parentElement.closest(".toast-title").parentElement);
        }
        if (n.nodeType !== 1) return;
        if (n.hasAttribute("aria-label")) rename(n);
        n.querySelectorAll("[aria-label]").forEach(rename);
        if (n.matches(".toast-title") || n.querySelector(".toast-title")) titleToasts(n.parentElement || n);
      });
    }
  }).observe(document.documentElement, {
    subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["aria-label"],
  });
  renameAll();

  // In the portal's panel (embed.js): Esc closes the panel even while typing here, since the
  // portal's own keydown listener never sees keys pressed inside this frame; and the portal asks
  // for the question box to take the focus when the panel opens. The messages carry no data, so
  // any parent may receive them; one from anywhere but the parent window is ignored.
  if (embedded && !document.querySelector("h1.uq-frame-title")) {
    // The page header is hidden in the portal's panel, which has its own title bar; the page
    // keeps its title as a heading for screen readers (visually hidden).
    const heading = document.createElement("h1");
    heading.className = "uq-frame-title";
    heading.textContent = document.title;
    (document.querySelector("main") || document.body).prepend(heading);
  }
  if (embedded && window.parent !== window) {
    const box = () => document.querySelector("#uq-question textarea");
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") window.parent.postMessage({ unionqa: "close" }, "*");
    }, true);
    window.addEventListener("message", (event) => {
      if (event.source === window.parent && event.data && event.data.unionqa === "focus" && box()) box().focus();
    });
    const ready = () => {
      if (!box()) return false;
      window.parent.postMessage({ unionqa: "ready" }, "*");
      return true;
    };
    if (!ready()) {
      const watch = new MutationObserver(() => { if (ready()) watch.disconnect(); });
      watch.observe(document.documentElement, { subtree: true, childList: true });
    }
  }

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
