// The reader workstation: wires the viewer, lesion marks, scoring panel, autosave,
// telemetry and keyboard shortcuts of the reading page (templates/readerstudy/reading_detail.html).
//
// The page's configuration is the JSON in #workstation-config (views.reader.reading_detail).
//
// Loading order, so that the reader sees the image as early as possible: this small script
// sets up the scoring panel and autosave, fetches the series' metadata (preloaded by the
// page) and draws the start slice itself (firstpaint.js); only then does it load the
// Cornerstone viewer, a separate and much larger bundle (config.viewerScript; cached by the
// browser after the first reading), which takes over the image. Loading it earlier, in
// parallel, only slowed the first image down on a 2-core machine (bench/workstation.py).
//
// The page's state is one store (state.js) that the parts below share:
//   state    config, seriesUrl, visitId, queue (SaveQueue), telemetry, scoring (ScoringPanel),
//            form, viewer, marks, ruler, lesion targets and orientation labels (once the viewer's
//            bundle is loaded), viewerReady
//   events   "viewer-created" {viewer, marks, ruler, targets, orientation}: the viewer exists (its bundle is loaded)
//            "viewer-ready" {viewerReady}: it shows the series; keys that act on the image work
//   actions  "apply-preset" (preset), "set-plane" (plane), "toggle-ruler": provided by the viewer's controls
//            "report-visit": queue the visit's telemetry; "save-everything": queue what the
//            page holds back and wait until the server has it all; "leave" (url): save
//            everything, then go; "show-help": the keyboard shortcuts

import { firstPaint } from "./firstpaint.js";
import { submitWhenSaved } from "./forms.js";
import { uuid4 } from "./ids.js";
import { isTextEntry, listenForKeys, renderKeymapHelp } from "./keymap.js";
import { MarkLayer } from "./marks.js";
import { OrientationLabels } from "./orientation.js";
import { Ruler } from "./ruler.js";
import { LesionTargets } from "./targets.js";
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
import { ScoringPanel } from "./scoring.js";
import { Store } from "./state.js";
import { Telemetry } from "./telemetry.js";
import { GESTURE_HELP, SINGLE_IMAGE_GESTURE_HELP, workstationKeymap } from "./workstation-keymap.js";

const TELEMETRY_EVERY_MS = 15000;
const POSITION_DELAY_MS = 400;

const EVENTS = ["viewer-created", "viewer-ready"];
const ACTIONS = ["apply-preset", "set-plane", "toggle-ruler", "report-visit", "save-everything", "leave", "show-help"];

/** The store, with the parts that exist from the start: autosave, telemetry and scoring. */
function createStore() {
  const config = readConfig("workstation-config");
  const form = $("#reading-form");
  const queue = createSaveQueue({ storageKey: `readerstudy:unsaved:${config.reading}`, csrfToken: csrfToken(form) });
  queue.kick(); // send what a previous visit left unsaved
  const telemetry = new Telemetry();
  const scoring = new ScoringPanel(
    form,
    (key, answer) => queue.put(`answer:${key}`, "POST", config.api.answers, { question: key, ...answer }),
    (key) => queue.draft(`answer:${key}`),
  );
  // Answers a closed tab left unsent are shown (and sent) again.
  for (const change of queue.restoredChanges()) {
    if (change.key.startsWith("answer:") && change.body) scoring.show(change.key.slice(7), change.body);
  }
  return new Store({
    state: {
      config,
      seriesUrl: seriesUrlOf(config),
      visitId: uuid4(),
      form,
      queue,
      telemetry,
      scoring,
      viewer: null,
      marks: null,
      ruler: null,
      targets: null,
      orientation: null,
      viewerReady: false,
    },
    events: EVENTS,
    actions: ACTIONS,
  });
}

/** The visit's telemetry, reported now and then (a submitted, locked reading is only looked at). */
function wireTelemetry(store) {
  const { config, queue, telemetry, visitId } = store.state;
  store.provide("report-visit", () => {
    if (config.editable && telemetry.changed) {
      queue.put("visit", "PUT", `${config.api.visits}${visitId}`, telemetry.report());
    }
  });
  setInterval(() => store.dispatch("report-visit"), TELEMETRY_EVERY_MS);
}

/** Submitting and leaving: everything is saved first, then the form posts or the page goes. */
function wireNavigation(store) {
  const { form, queue, scoring } = store.state;
  const holdBack = () => {
    scoring.flushPending();
    store.dispatch("report-visit");
  };
  store.provide("save-everything", async () => {
    holdBack();
    await queue.flush();
  });
  submitWhenSaved(form, {
    queue,
    prepare: holdBack,
    refuse: (button) => {
      if (button?.name !== "submit") return false;
      const marks = store.get("marks");
      if (marks && marks.unrated.length) {
        showMessage("Choose a confidence for every mark (or delete it) before submitting.");
        marks.select(marks.unrated[0].client_id);
        return true;
      }
      // Every required question answered: the errors are shown in the questions themselves.
      return scoring.checkRequired();
    },
  });

  store.provide("leave", async (url) => {
    if (!url) return;
    await store.dispatch("save-everything");
    location.href = url;
  });
  for (const link of $$("#previous-reading, #next-reading")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      store.dispatch("leave", link.href);
    });
  }

  // Leaving the page: send the telemetry and whatever is unsaved (kept in localStorage too).
  window.addEventListener("pagehide", () => {
    holdBack();
    queue.sendBeforeUnload();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") store.dispatch("report-visit");
  });
}

/** The keyboard shortcuts and their help, both from the keymap (workstation-keymap.js). */
function wireKeyboard(store) {
  const help = $("#help");
  const keymap = workstationKeymap(store);
  const gestures = store.state.config.numSlices === 1 ? SINGLE_IMAGE_GESTURE_HELP : GESTURE_HELP;
  renderKeymapHelp($("#help-keys"), keymap, gestures);
  store.provide("show-help", () => help.showModal());
  $("#help-toggle").addEventListener("click", () => store.dispatch("show-help"));
  listenForKeys(keymap, { ignore: (event) => isTextEntry(event) || help.open });
}

/** Create the viewer (once its bundle is loaded), its marks and controls. */
function wireViewer(store, Viewer, metadata) {
  const { config, queue, telemetry } = store.state;
  const element = $("#viewport");
  const viewer = new Viewer(element, config, staticBase);
  const orientation = new OrientationLabels({
    viewer,
    container: element.parentElement,
    projection: config.projection,
    patientOrientation: metadata[0]["00200020"]?.Value ?? null,
  });
  const ruler = new Ruler({ viewer, svg: $("#ruler-layer"), button: $("#ruler-toggle") });
  const marks = config.markScale.length
    ? new MarkLayer({
        viewer,
        svg: $("#mark-layer"),
        list: $("#marks-list"),
        rowTemplate: $("#mark-row"),
        countLabel: $("#marks-count"),
        scale: config.markScale,
        editable: config.editable,
        onSave: (mark) =>
          queue.put(`mark:${mark.client_id}`, "PUT", `${config.api.marks}${mark.client_id}`, {
            slice: mark.slice,
            x: mark.x,
            y: mark.y,
            rating: mark.rating,
            label: mark.label,
          }),
        onDelete: (mark) => queue.put(`mark:${mark.client_id}`, "DELETE", `${config.api.marks}${mark.client_id}`),
        onFirstMark: () => telemetry.markPlaced(),
        paused: () => ruler.active,
      })
    : null;
  const targets = config.lesionTargets.length
    ? new LesionTargets({ viewer, svg: $("#target-layer"), targets: config.lesionTargets, buttons: $$(".lesion-go") })
    : null;
  store.update("viewer-created", { viewer, marks, ruler, targets, orientation });
  store.provide("toggle-ruler", () => ruler.toggle());
  $("#ruler-toggle").addEventListener("click", () => store.dispatch("toggle-ruler"));

  showViewerReadouts(viewer, {
    slider: $("#slice-slider"),
    slice: $("#overlay-slice"),
    window: $("#overlay-window"),
    position: $("#overlay-position"),
    zoom: $("#overlay-zoom"),
  });
  // The slices shown count for the telemetry; the last one is where the reading resumes.
  let positionTimer = null;
  viewer.addEventListener("slice", ({ detail }) => {
    if (viewer.plane !== "acquired" || !config.editable) return;
    telemetry.sliceShown(detail.index);
    clearTimeout(positionTimer);
    positionTimer = setTimeout(
      () => queue.put("position", "POST", config.api.position, { slice: detail.index }),
      POSITION_DELAY_MS,
    );
  });

  // One drag is one window/level change, however many mouse moves it takes; a preset is one too.
  let windowDragged = false;
  let presetApplying = false;
  viewer.addEventListener("window", () => {
    if (!presetApplying) windowDragged = true;
  });
  element.addEventListener("pointerup", () => {
    if (windowDragged) telemetry.windowChanged();
    windowDragged = false;
  });
  store.provide("apply-preset", (preset) => {
    presetApplying = true;
    viewer.setWindow(preset.window);
    presetApplying = false;
    telemetry.windowChanged();
  });

  const planeButtons = $$("[data-plane]");
  store.provide("set-plane", async (plane) => {
    try {
      await viewer.setPlane(plane);
      for (const b of planeButtons) b.setAttribute("aria-pressed", String(b.dataset.plane === viewer.plane));
      marks && marks.draw();
      targets && targets.draw();
    } catch (error) {
      showMessage(error.message);
    }
  });
  for (const button of planeButtons) {
    button.addEventListener("click", () => store.dispatch("set-plane", button.dataset.plane));
  }
  $("#reset-view").addEventListener("click", () => viewer.reset());

  store.on("viewer-ready", () => {
    renderPresets(
      $("#presets"),
      viewer.presets(),
      (preset) => store.dispatch("apply-preset", preset),
      (preset, i) => `${preset.name} window (Shift+${i + 1})`,
    );
    for (const b of planeButtons) if (b.dataset.plane !== "acquired") b.disabled = !viewer.canReformat;
  });
}

/** Draw the start slice before the viewer is loaded; never fails (the viewer draws it anyway). */
async function firstImage(config, seriesUrl, metadata) {
  const index = Math.min(Math.max(config.startSlice || 0, 0), metadata.length - 1);
  const sop = metadata[index]["00080018"].Value[0];
  try {
    if (await firstPaint($("#first-paint"), `${seriesUrl}/instances/${sop}/frames/1`, metadata[index])) {
      performance.mark("workstation:first-image");
    }
  } catch (error) {
    console.warn("The first image is left to the viewer:", error);
  }
}

/** Metadata, the first image, then the viewer and the marks saved so far. */
async function start(store) {
  const { config, seriesUrl, queue } = store.state;
  const metadata = await fetchJson(`${seriesUrl}/metadata`);
  if (!metadata.length) throw new Error("This series has no images.");
  performance.mark("workstation:metadata");
  await firstImage(config, seriesUrl, metadata);
  const { Viewer } = await import(config.viewerScript);
  wireViewer(store, Viewer, metadata);
  const { viewer, marks } = store.state;
  await viewer.start(seriesUrl, metadata);
  $("#first-paint").hidden = true;
  store.update("viewer-ready", { viewerReady: true });
  if (marks) {
    const state = await fetchJsonIfOk(config.api.state);
    if (state) marks.load(state.marks);
    // Changes restored from localStorage win over the server's copy until they are sent.
    for (const change of queue.restoredChanges()) {
      const id = change.key.startsWith("mark:") ? change.key.slice(5) : null;
      if (!id) continue;
      if (change.method === "DELETE") marks.marks.delete(id);
      else marks.marks.set(id, { client_id: id, ...change.body });
    }
    marks.refresh();
  }
}

function main() {
  performance.mark("workstation:script");
  const store = createStore();
  wireTelemetry(store);
  wireNavigation(store);
  wireKeyboard(store);
  exposeTestHook("workstation", {
    queue: () => store.get("queue"),
    viewer: () => store.get("viewer"),
    ruler: () => store.get("ruler"),
    orientation: () => store.get("orientation"),
  });
  runPage("workstation", start(store));
}

main();
