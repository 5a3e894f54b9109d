/* 工会知识问答 embed script.
 * <script src="http://HOST:PORT/embed.js" defer></script> adds a floating chat
 * button to the page; it opens a panel with the chat (an iframe of /?embed=1)
 * served by the same server as this script. Nothing is loaded from elsewhere.
 * Optional attribute: data-label="按钮文字".
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__unionqaEmbed) return;
  window.__unionqaEmbed = true;
  var chatUrl = new URL("./?embed=1", script.src).href;
  var label = script.getAttribute("data-label") || "工会问答";

  var css =
    ".unionqa-button{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:999px;" +
    "padding:12px 18px;background:#b71c1c;color:#fff;font:600 16px/1.2 system-ui,'PingFang SC','Microsoft YaHei',sans-serif;" +
    "box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer}" +
    ".unionqa-button:focus-visible{outline:3px solid #ffd54f;outline-offset:2px}" +
    ".unionqa-panel{position:fixed;right:20px;bottom:80px;z-index:2147483000;width:min(420px,calc(100vw - 24px));" +
    "height:min(640px,calc(100vh - 110px));display:flex;flex-direction:column;background:#fff;border-radius:12px;" +
    "box-shadow:0 8px 30px rgba(0,0,0,.3);overflow:hidden}" +
    ".unionqa-panel[hidden]{display:none}" +
    ".unionqa-bar{display:flex;align-items:center;justify-content:space-between;padding:8px 12px;background:#b71c1c;" +
    "color:#fff;font:600 15px/1.2 system-ui,'PingFang SC','Microsoft YaHei',sans-serif}" +
    ".unionqa-close{border:0;background:transparent;color:#fff;font-size:22px;line-height:1;cursor:pointer;padding:0 4px}" +
    ".unionqa-frame{flex:1;width:100%;border:0}" +
    "@media (max-width:480px){.unionqa-panel{right:0;bottom:0;width:100vw;height:100%;border-radius:0}" +
    ".unionqa-button{right:12px;bottom:12px}}";

  function setUp() {
    var style = document.createElement("style");
    style.textContent = css;
    document.head.appendChild(style);

    var button = document.createElement("button");
    button.type = "button";
    button.className = "unionqa-button";
    button.textContent = label;
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", "unionqa-panel");

    var panel = document.createElement("div");
    panel.id = "unionqa-panel";
    panel.className = "unionqa-panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", "工会知识问答");

    var bar = document.createElement("div");
    bar.className = "unionqa-bar";
    var title = document.createElement("span");
    title.textContent = "工会知识问答";
    var close = document.createElement("button");
    close.type = "button";
    close.className = "unionqa-close";
    close.setAttribute("aria-label", "关闭");
    close.textContent = "×";
    bar.appendChild(title);
    bar.appendChild(close);
    panel.appendChild(bar);

    var frame = null;
    var frameReady = false;
    var chatOrigin = new URL(chatUrl).origin;

    // Focus goes into the panel when it opens (the frame, then its question box once the chat
    // says it is ready) and back to the launcher when it closes, however it is closed.
    function focusChat() {
      frame.focus();
      if (frameReady) frame.contentWindow.postMessage({ unionqa: "focus" }, chatOrigin);
    }
    function toggle(open) {
      // The chat is loaded on first open, so portals pay nothing until someone asks.
      if (open && !frame) {
        frame = document.createElement("iframe");
        frame.className = "unionqa-frame";
        frame.title = "工会知识问答";
        frame.src = chatUrl;
        panel.appendChild(frame);
      }
      panel.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      button.hidden = open && window.matchMedia("(max-width: 480px)").matches;
      if (open) focusChat();
      else button.focus();
    }
    button.addEventListener("click", function () { toggle(panel.hidden); });
    close.addEventListener("click", function () { toggle(false); });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !panel.hidden) toggle(false);
    });
    // From the chat in the frame (ui/static/chat.js): "ready" once its question box is there,
    // "close" on Esc pressed inside it. Only our own frame is listened to.
    window.addEventListener("message", function (e) {
      if (!frame || e.source !== frame.contentWindow || e.origin !== chatOrigin || !e.data) return;
      if (e.data.unionqa === "ready") {
        frameReady = true;
        if (!panel.hidden) focusChat();
      } else if (e.data.unionqa === "close" && !panel.hidden) {
        toggle(false);
      }
    });

    document.body.appendChild(panel);
    document.body.appendChild(button);
  }

  if (document.body) setUp();
  else document.addEventListener("DOMContentLoaded", setUp);
})();
