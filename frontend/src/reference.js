// The reference drafting page (templates/readerstudy/reference_draft.html): a reviewer marks
// the true lesions of one case in the same viewer readers use, each with a diameter (mm) and a
// type, and records the case's truth and findings in the form beside it.
//
// The page's configuration is the JSON in #draft-config (views.references.reference_draft).
// The Cornerstone viewer is the workstation's own bundle (config.viewerScript), loaded with
// import(); its DICOMweb root is the draft's (/dicomweb/d/<draft id>/).
//
// Lesions (lesions.js): placed by a click, or measured by two clicks. A lesion is saved (PUT,
// JSON) once it has a diameter; deleting sends DELETE. Saving goes through the workstation's
// SaveQueue: retried until it lands, kept in localStorage meanwhile, and flushed before the
// form is submitted.

import { submitWhenSaved } from "./forms.js";
import { isFormField, listenForKeys } from "./keymap.js";
import { LesionLayer } from "./lesions.js";
import {
  $,
  $$,
  createSaveQueue,
  csrfToken,
  exposeTestHook,
  fetchJson,
  fetchJsonIfOk,
  readConfig,
  runPage,
  renderPresets,
  seriesUrlOf,
  showMessage,
  showViewerReadouts,
  staticBase,
} from "./page.js";

/** The page's keyboard shortcuts (keymap.js). */
function draftKeymap(viewer, lesions, editable) {
  return [
    { id: "previous-slice", keys: ["ArrowUp"], description: "Previous slice", run: () => viewer.scrollBy(-1) },
    { id: "next-slice", keys: ["ArrowDown"], description: "Next slice", run: () => viewer.scrollBy(1) },
    { id: "reset-view", keys: ["r"], description: "Reset zoom, pan and window", run: () => viewer.reset() },
    {
      id: "measure-mode",
      keys: ["m"],
      description: "Measure a lesion's diameter (two clicks)",
      run: () => {
        if (editable) lesions.setMode("measure");
      },
    },
    { id: "point-mode", keys: ["p"], description: "Place lesions by a click", run: () => lesions.setMode("point") },
    {
      id: "deselect",
      keys: ["Escape"],
      description: "Back to placing; deselect the lesion",
      run: () => {
        lesions.setMode("point");
        lesions.select(null);
      },
    },
    {
      id: "delete-lesion",
      keys: ["Delete", "Backspace"],
      description: "Delete the selected lesion",
      when: () => Boolean(lesions.selected),
      run: () => lesions.remove(lesions.selected),
    },
  ];
}

function main() {
  const config = readConfig("draft-config");
  const seriesUrl = seriesUrlOf(config);
  const form = $("#draft-form");
  const queue = createSaveQueue({
    storageKey: `readerstudy:unsaved-reference:${config.reading}`,
    csrfToken: csrfToken(form),
  });
  queue.kick(); // what a previous visit left unsaved
  const page = { viewer: null, lesions: null };
  exposeTestHook("referenceDraft", { queue: () => queue, viewer: () => page.viewer });

  // ---- the form: lesions saved first, then the form posts ----------------------------------
  submitWhenSaved(form, {
    queue,
    refuse: (button) => {
      if (!(page.lesions && page.lesions.unsized.length && button?.name === "submit")) return false;
      showMessage("Give every lesion a diameter (or delete it) before submitting.");
      page.lesions.select(page.lesions.unsized[0].client_id);
      return true;
    },
  });
  window.addEventListener("pagehide", () => queue.sendBeforeUnload());

  const started = (async () => {
    const metadata = await fetchJson(`${seriesUrl}/metadata`, "");
    if (!metadata.length) throw new Error("This series has no images.");
    const { Viewer } = await import(config.viewerScript);
    const viewer = new Viewer($("#viewport"), config, staticBase);
    page.viewer = viewer;
    showViewerReadouts(viewer, {
      slider: $("#slice-slider"),
      slice: $("#overlay-slice"),
      window: $("#overlay-window"),
      position: $("#overlay-position"),
    });

    const lesions = new LesionLayer({
      viewer,
      svg: $("#mark-layer"),
      list: $("#lesions-list"),
      rowTemplate: $("#lesion-row"),
      countLabel: $("#lesions-count"),
      hint: $("#mode-hint"),
      editable: config.editable,
      onSave: (lesion) =>
        queue.put(`lesion:${lesion.client_id}`, "PUT", `${config.api.lesions}${lesion.client_id}`, {
          slice: lesion.slice,
          x: lesion.x,
          y: lesion.y,
          size_mm: lesion.size_mm,
          lesion_type: lesion.lesion_type || "",
        }),
      onDelete: (lesion) =>
        queue.put(`lesion:${lesion.client_id}`, "DELETE", `${config.api.lesions}${lesion.client_id}`),
    });
    page.lesions = lesions;
    for (const button of $$("[data-mode]")) {
      button.addEventListener("click", () => lesions.setMode(button.dataset.mode));
    }

    await viewer.start(seriesUrl, metadata);
    renderPresets($("#presets"), viewer.presets(), (preset) => viewer.setWindow(preset.window));
    $("#reset-view").addEventListener("click", () => viewer.reset());

    const state = await fetchJsonIfOk(config.api.state);
    if (state) lesions.load(state.lesions);
    // Changes restored from localStorage win over the server's copy until they are sent.
    for (const change of queue.restoredChanges()) {
      if (!change.key.startsWith("lesion:")) continue;
      const id = change.key.slice("lesion:".length);
      if (change.method === "DELETE") lesions.lesions.delete(id);
      else lesions.lesions.set(id, { client_id: id, ...change.body });
    }
    lesions.refresh();

    listenForKeys(draftKeymap(viewer, lesions, config.editable), { ignore: isFormField });
  })();
  runPage("reference", started);
}

main();
