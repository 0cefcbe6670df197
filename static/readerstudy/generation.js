// The generation console: follow running jobs (polling through jobs-follow.js): update
// each case's bar, status and error, and reload the page when a job's status changes (e.g.
// it finished). Loaded with defer.
(() => {
  "use strict";
  const section = document.getElementById("generation-jobs");
  if (!section || !section.querySelector('.generation-job[data-status="running"]')) return;
  const capitalised = (word) => word.charAt(0).toUpperCase() + word.slice(1);

  const update = (state) => {
    for (const job of state.jobs) {
      const article = section.querySelector(`.generation-job[data-job="${job.id}"]`);
      if (!article) continue;
      if (article.dataset.status !== job.status) {
        window.location.reload();
        return false;
      }
      for (const task of job.tasks) {
        const row = article.querySelector(`tr[data-task="${task.id}"]`);
        if (!row) continue;
        row.querySelector("progress").value = task.progress;
        row.querySelector(".task-status").textContent = capitalised(task.status);
        row.querySelector(".task-error").textContent = task.error;
      }
    }
    return true;
  };

  window.jobsFollow(section, update);
})();
