// The endpoint page: state refresh, keys (reveal, copy, regenerate), the traffic and
// mirror editor, deleting, log tail and the live charts.
"use strict";

(() => {
  const name = document.getElementById("endpoint").dataset.endpoint;
  const base = "/api/endpoints/" + encodeURIComponent(name);

  // --- state -----------------------------------------------------------------------------
  function setState(node, state) {
    node.textContent = state;
    node.className = "state state-" + state.toLowerCase();
  }

  async function refresh() {
    const result = await studio.api("GET", base);
    if (!result.ok) return;
    setState(document.getElementById("endpoint-state"), result.data.state);
    const known = new Set();
    for (const d of result.data.deployments) {
      known.add(d.name);
      const row = document.querySelector(`#deployments tr[data-deployment="${CSS.escape(d.name)}"]`);
      if (row) setState(row.querySelector('[data-field="state"]'), d.state);
    }
    const rows = document.querySelectorAll("#deployments tr[data-deployment]");
    const changed = rows.length !== known.size ||
      result.data.deployments.some((d) => d.error && !document.querySelector(`[data-failure-of="${CSS.escape(d.name)}"]`));
    // Not reloaded under the user's hands (an edit in progress): say so, with a link.
    document.getElementById("changed-notice").hidden = !changed;
  }
  setInterval(refresh, 3000);

  // --- keys ------------------------------------------------------------------------------
  const keys = document.getElementById("keys");
  keys.addEventListener("click", async (event) => {
    const reveal = event.target.closest("[data-reveal]");
    const regenerate = event.target.closest("[data-regenerate]");
    if (reveal) {
      const result = await studio.api("POST", base + "/keys/reveal");
      if (!result.ok) { keys.append(studio.failure(result.data.message, result.data.hint)); return; }
      for (const [field, value] of Object.entries(result.data)) {
        const node = document.getElementById("key-" + field);
        if (!node) continue;
        node.textContent = value;
        node.dataset.secret = value;
        node.classList.add("revealed");
      }
      keys.querySelectorAll("button.copy").forEach((b) => { b.disabled = false; });
      keys.querySelectorAll("[data-reveal]").forEach((b) => { b.hidden = true; });
    }
    if (regenerate) {
      const kind = regenerate.dataset.regenerate;
      const ok = await studio.confirmAction(
        `Regenerate the ${kind} key of ${name}? The current ${kind} key stops working at once.`,
        "Regenerate");
      if (!ok) return;
      const result = await studio.api("POST", base + "/keys/regenerate", { key_type: kind });
      if (!result.ok) { keys.append(studio.failure(result.data.message, result.data.hint)); return; }
      const node = document.getElementById(`key-${kind}_key`);
      node.textContent = "•••••••••••••••• (regenerated: reveal to see it)";
      delete node.dataset.secret;
      keys.querySelectorAll("button.copy").forEach((b) => { b.disabled = true; });
      keys.querySelectorAll("[data-reveal]").forEach((b) => { b.hidden = false; });
    }
  });

  // --- traffic ---------------------------------------------------------------------------
  const form = document.getElementById("traffic-form");
  const message = document.getElementById("traffic-message");
  function values(kind) {
    const out = {};
    form.querySelectorAll(`input[name="${kind}"]`).forEach((input) => {
      const value = Number(input.value || 0);
      if (value) out[input.dataset.deployment] = value;
    });
    return out;
  }
  function sum(map) { return Object.values(map).reduce((a, b) => a + b, 0); }
  function checkTraffic() {
    const traffic = values("traffic");
    const mirror = values("mirror");
    const total = sum(traffic);
    document.getElementById("traffic-total").textContent = total + "%";
    const wrong = Object.values(traffic).concat(Object.values(mirror))
      .some((v) => !Number.isInteger(v) || v < 0 || v > 100);
    if (wrong) return "Each percentage is a whole number from 0 to 100.";
    if (total !== 100 && total !== 0) return `Traffic adds up to ${total}%; it must total 100% (or 0% for none).`;
    if (Object.keys(mirror).length > 1) return "Mirror traffic goes to one deployment at most.";
    for (const [d, v] of Object.entries(mirror)) {
      if (v > 50) return `Mirror traffic to ${d} is ${v}%; at most 50%.`;
      if (traffic[d]) return `${d} cannot both take traffic and receive mirrored copies.`;
    }
    return "";
  }
  form.addEventListener("input", () => {
    const problem = checkTraffic();
    message.textContent = problem;
    message.className = problem ? "message error" : "message";
  });
  checkTraffic();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const problem = checkTraffic();
    if (problem) {  // refused here: nothing is sent
      message.textContent = problem;
      message.className = "message error";
      return;
    }
    message.textContent = "Saving…";
    message.className = "message";
    const result = await studio.api("POST", base + "/traffic",
      { traffic: values("traffic"), mirror_traffic: values("mirror") });
    if (result.ok) {
      const split = Object.entries(result.data.traffic).filter(([, p]) => p).map(([d, p]) => `${d} ${p}%`).join(", ");
      message.textContent = "Saved: " + (split || "no traffic");
      message.className = "message ok";
    } else {
      message.textContent = "Error: " + result.data.message + (result.data.hint ? " Hint: " + result.data.hint : "");
      message.className = "message error";
    }
  });

  // --- deleting --------------------------------------------------------------------------
  const progress = document.getElementById("task-progress");
  function runTask(url, onDone) {
    progress.hidden = false;
    const log = progress.querySelector("pre");
    const outcome = progress.querySelector(".task-outcome");
    log.textContent = "";
    outcome.replaceChildren();
    studio.api("DELETE", url).then((started) => {
      if (!started.ok) {
        outcome.append(studio.failure(started.data.message, started.data.hint));
        return;
      }
      studio.followTask(started.data.events, log, (task) => {
        if (task.state === "Succeeded") onDone(task);
        else outcome.append(studio.failure(task.error, task.hint));
      });
    });
  }
  document.getElementById("delete-endpoint").addEventListener("click", async () => {
    const ok = await studio.confirmAction(
      `Delete endpoint ${name} with all its deployments and keys? This cannot be undone.`, "Delete");
    if (ok) runTask(base, () => { window.location.href = "/endpoints"; });
  });
  document.getElementById("deployments").addEventListener("click", async (event) => {
    const button = event.target.closest("[data-delete-deployment]");
    if (!button) return;
    const deployment = button.dataset.deleteDeployment;
    const ok = await studio.confirmAction(`Delete deployment ${deployment} of ${name}?`, "Delete");
    if (ok) runTask(base + "/deployments/" + encodeURIComponent(deployment), () => window.location.reload());
  });

  // --- logs ------------------------------------------------------------------------------
  const logBox = document.getElementById("deployment-log");
  const logDeployment = document.getElementById("log-deployment");
  const logContainer = document.getElementById("log-container");
  async function tail() {
    if (!logDeployment.value) return;
    const url = `${base}/deployments/${encodeURIComponent(logDeployment.value)}/logs?lines=200&container=${logContainer.value}`;
    const result = await studio.api("GET", url);
    const atBottom = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 4;
    logBox.textContent = result.ok ? result.data.text : "Error: " + result.data.message;
    if (atBottom) logBox.scrollTop = logBox.scrollHeight;
  }
  logDeployment.addEventListener("change", tail);
  logContainer.addEventListener("change", tail);
  tail();
  setInterval(tail, 3000);

  // --- charts ----------------------------------------------------------------------------
  const charts = studioCharts.create({
    rps: document.getElementById("chart-rps"),
    latency: document.getElementById("chart-latency"),
    errors: document.getElementById("chart-errors"),
  });
  const metricsMessage = document.getElementById("metrics-message");
  async function sample() {
    const result = await studio.api("GET", base + "/metrics");
    if (!result.ok) { metricsMessage.textContent = result.data.message || "metrics unavailable"; return; }
    metricsMessage.textContent = result.data.error || "";
    charts.update(result.data.points);
  }
  sample();
  setInterval(sample, 3000);
})();
