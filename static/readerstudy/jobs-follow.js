// Following background jobs on a page (the generation console, the import pages): poll the
// section's data-state-url every second and hand each answer to `update`, which returns
// false to stop polling (e.g. once it reloads the page). A missed poll is retried.
// Loaded with defer before the page's own script.
window.jobsFollow = (section, update) => {
  "use strict";
  const poll = async () => {
    try {
      const response = await fetch(section.dataset.stateUrl, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(response.statusText);
      if (!update(await response.json())) return;
    } catch (error) {
      // Retried below.
    }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
};
