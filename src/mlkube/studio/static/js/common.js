// What every studio page shares: JSON calls with the session's CSRF token, copy
// buttons, the confirmation dialog and following a task's progress (Server-Sent Events).
"use strict";

const studio = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  async function api(method, url, body) {
    const options = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (method !== "GET") {
      options.headers["X-CSRF-Token"] = csrf;
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body || {});
    }
    const response = await fetch(url, options);
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    return { ok: response.ok, status: response.status, data: data || {} };
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  }

  // The cause and the fix, as the CLI prints them (Error: ..., Hint: ...).
  function failure(message, hint) {
    const box = el("div", { class: "failure", role: "alert" },
      el("p", { class: "cause" }, "Error: " + (message || "failed")));
    if (hint) box.append(el("p", { class: "fix" }, "Hint: " + hint));
    return box;
  }

  function confirmAction(text, okLabel) {
    const dialog = document.getElementById("confirm-dialog");
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-ok").textContent = okLabel || "Confirm";
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  }

  // Progress lines into logEl as they come; onEnd(task) once it finished.
  function followTask(eventsUrl, logEl, onEnd) {
    const source = new EventSource(eventsUrl);
    source.addEventListener("line", (event) => {
      logEl.textContent += JSON.parse(event.data) + "\n";
      logEl.scrollTop = logEl.scrollHeight;
    });
    source.addEventListener("end", (event) => {
      source.close();
      onEnd(JSON.parse(event.data));
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) return;
      source.close();
      onEnd({ state: "Failed", error: "Lost the connection to the studio.", hint: "Reload the page." });
    };
  }

  async function copyText(text, button) {
    await navigator.clipboard.writeText(text);
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1200);
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.copy[data-copy-from]");
    if (!button) return;
    event.preventDefault();
    const source = document.getElementById(button.dataset.copyFrom);
    copyText(source.dataset.secret || source.textContent.trim(), button).catch((error) => {
      button.textContent = "Copy failed";
      button.title = String(error);
    });
  });

  function formData(form) {
    const data = {};
    for (const [key, value] of new FormData(form).entries()) data[key] = value;
    return data;
  }

  return { api, el, failure, confirmAction, followTask, formData };
})();
