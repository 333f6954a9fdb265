// The Test page: send the body to the endpoint (through the studio, with the
// endpoint's credential) and show status, latency, the deployment that answered and
// the response.
"use strict";

(() => {
  const name = document.getElementById("endpoint").dataset.endpoint;
  const form = document.getElementById("test-form");
  const status = document.getElementById("test-status");
  const send = document.getElementById("test-send");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = studio.formData(form);
    try { JSON.parse(data.body); } catch (error) {
      status.textContent = "The body is not valid JSON: " + error.message;
      status.className = "error";
      return;
    }
    send.disabled = true;
    status.textContent = "sending…";
    status.className = "muted";
    const result = await studio.api("POST", `/api/endpoints/${encodeURIComponent(name)}/invoke`, data);
    send.disabled = false;
    if (!result.ok) {
      status.textContent = "Error: " + result.data.message;
      status.className = "error";
      return;
    }
    const r = result.data;
    status.textContent = String(r.status);
    status.className = r.status < 400 ? "ok" : "error";
    document.getElementById("test-latency").textContent = r.latency_ms + " ms";
    document.getElementById("test-answered-by").textContent = r.deployment;
    let text = r.body;
    try { text = JSON.stringify(JSON.parse(r.body), null, 2); } catch (_) { /* not JSON */ }
    document.getElementById("test-response").textContent = text;
  });
})();
