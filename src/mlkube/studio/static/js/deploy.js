// The Deploy page: send the form, then stream the build and rollout progress; at the
// end, a link to the endpoint or the failure's cause and fix.
"use strict";

(() => {
  const form = document.getElementById("deploy-form");
  const panel = document.getElementById("deploy-progress");
  const log = document.getElementById("deploy-log");
  const outcome = document.getElementById("deploy-outcome");
  const state = document.getElementById("deploy-state");
  const submit = document.getElementById("deploy-submit");

  function setState(text) {
    state.textContent = text;
    state.className = "state state-" + text.toLowerCase();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = studio.formData(form);
    data.instance_count = Number(data.instance_count);
    panel.hidden = false;
    log.textContent = "";
    outcome.replaceChildren();
    setState("Running");
    submit.disabled = true;
    const started = await studio.api("POST", "/api/deploy", data);
    if (!started.ok) {
      submit.disabled = false;
      setState("Failed");
      outcome.append(studio.failure(started.data.message, started.data.hint));
      return;
    }
    studio.followTask(started.data.events, log, (task) => {
      submit.disabled = false;
      setState(task.state);
      if (task.state === "Succeeded") {
        outcome.append(studio.el("p", { class: "ok" }, "Ready: ",
          studio.el("a", { href: task.result.url, id: "deploy-endpoint-link" }, "open the endpoint")));
      } else {
        outcome.append(studio.failure(task.error, task.hint));
      }
    });
  });
})();
