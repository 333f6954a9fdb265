// The Models pages: register a version from a folder, run or job output; run
// `mlkube doctor` on a version.
"use strict";

(() => {
  const form = document.getElementById("register-form");
  if (form) {
    const result = document.getElementById("register-result");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      result.hidden = false;
      result.replaceChildren("Registering…");
      const answer = await studio.api("POST", "/api/models", studio.formData(form));
      if (answer.ok) {
        result.replaceChildren(studio.el("p", { class: "ok" }, `Registered ${answer.data.name} version ${answer.data.version}. `,
          studio.el("a", { href: answer.data.url, id: "registered-link" }, "Open it")));
      } else {
        result.replaceChildren(studio.failure(answer.data.message, answer.data.hint));
      }
    });
  }
  const doctor = document.getElementById("doctor-run");
  if (doctor) {
    const box = document.getElementById("doctor-findings");
    doctor.addEventListener("click", async () => {
      doctor.disabled = true;
      box.replaceChildren("Checking…");
      const answer = await studio.api("GET", doctor.dataset.url);
      doctor.disabled = false;
      if (!answer.ok) { box.replaceChildren(studio.failure(answer.data.message, answer.data.hint)); return; }
      const rows = answer.data.findings.map((f) => studio.el("tr", { class: "finding-" + f.severity },
        studio.el("td", {}, studio.el("span", { class: "state state-" + f.severity }, f.severity)),
        studio.el("td", { class: "mono small" }, f.code), studio.el("td", {}, f.message), studio.el("td", {}, f.fix)));
      if (!rows.length) { box.replaceChildren("No findings."); return; }
      box.replaceChildren(studio.el("table", { class: "list", id: "doctor-table" },
        studio.el("thead", {}, studio.el("tr", {}, studio.el("th", {}, ""), studio.el("th", {}, "Code"),
          studio.el("th", {}, "Finding"), studio.el("th", {}, "Fix"))),
        studio.el("tbody", {}, ...rows)));
    });
  }
})();
