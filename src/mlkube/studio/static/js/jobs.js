// A job's page: its status and log, followed while it runs.
"use strict";

(() => {
  const facts = document.getElementById("job-facts");
  const name = facts.dataset.job;
  const log = document.getElementById("job-log");
  const status = document.getElementById("job-status");
  let offset = 0;
  let ended = false;
  const TERMINAL = ["Completed", "Failed", "Canceled"];

  async function poll() {
    const chunk = await studio.api("GET", `/api/jobs/${encodeURIComponent(name)}/log?offset=${offset}`);
    if (chunk.ok && chunk.data.text) {
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.textContent += chunk.data.text;
      offset = chunk.data.offset;
      if (atBottom) log.scrollTop = log.scrollHeight;
    }
    const job = await studio.api("GET", `/api/jobs/${encodeURIComponent(name)}`);
    if (job.ok) {
      status.textContent = job.data.status;
      status.className = "state state-" + String(job.data.status).toLowerCase();
      document.getElementById("job-duration").textContent = job.data.duration;
      ended = TERMINAL.includes(job.data.status);
    }
    if (!ended) setTimeout(poll, 2000);
  }
  poll();
})();
