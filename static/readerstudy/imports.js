// The import pages: follow queued and running imports (polling through jobs-follow.js):
// update each job's status, bar and stage, and reload the page when a job finishes (its
// report is then on the page). Loaded with defer.
(() => {
  "use strict";
  const section = document.getElementById("import-jobs");
  const active = (status) => status === "queued" || status === "running";
  if (!section) return;
  const rows = () => [...section.querySelectorAll(".import-job")];
  if (!rows().some((row) => active(row.dataset.status))) return;

  const update = (state) => {
    for (const job of state.jobs) {
      const row = section.querySelector(`.import-job[data-job="${job.id}"]`);
      if (!row) continue;
      if (row.dataset.status !== job.status) {
        window.location.reload();
        return false;
      }
      row.querySelector("progress").value = job.progress;
      row.querySelector(".job-status").textContent = job.status_display;
      row.querySelector(".job-stage").textContent = job.stage;
    }
    return true;
  };

  window.jobsFollow(section, update);
})();
