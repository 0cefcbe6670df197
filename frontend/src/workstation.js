// The reader workstation: wires the viewer, lesion marks, scoring panel, autosave,
// telemetry and keyboard shortcuts of the reading page (templates/readerstudy/reading_detail.html).
//
// The page's configuration is the JSON in #workstation-config (views.reader.reading_detail).
//
// Loading order, so that the reader sees the image as early as possible: the page itself shows
// the start slice of a new reading as an <img> of a PNG the server made at import
// (imaging.first_image; no script, metadata or frame needed). This small script sets up the
// scoring panel and autosave, reads the series' metadata inlined in the page, starts fetching
// the pixel data in bulk, nearest to the start slice first (bulk.js), and imports the
// Cornerstone viewer (config.viewerScript, a much larger bundle the page preloads), which takes
// the frames from the bulk store and takes over the image. A reading that resumes on another
// slice has no <img>: the script draws that slice itself first (firstpaint.js).
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

import { seriesLoadStart } from "./bulk.js";
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
/** The longest the viewer waits for the first image before it loads anyway. */
const VIEWER_WAIT_MS = 1500;

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

/**
 * When the page's <img> of the start slice (the server's PNG) was painted (ms), or null if it
 * failed to load. Element Timing (Chromium) says when the browser painted it, even to an
 * observer made later (buffered); its callback can come late on a busy main thread, so once the
 * image is decoded the observer's queue is read directly. Without Element Timing, the time is
 * that of the first frame after the image was decoded.
 */
function imagePainted(img) {
  const elementTiming =
    typeof PerformanceObserver !== "undefined" && PerformanceObserver.supportedEntryTypes?.includes("element");
  return new Promise((resolve) => {
    let observer = null;
    let settled = false;
    const finish = (time) => {
      if (settled) return;
      settled = true;
      observer?.disconnect();
      resolve(time);
    };
    const painted = (entries) => {
      const entry = entries.find((e) => e.identifier === "first-image");
      if (entry) finish(entry.renderTime || entry.loadTime);
    };
    if (elementTiming) {
      observer = new PerformanceObserver((list) => painted(list.getEntries()));
      observer.observe({ type: "element", buffered: true });
    }
    img
      .decode()
      .then(() => new Promise((next) => requestAnimationFrame(() => setTimeout(next, 0))))
      .then(() => {
        const now = performance.now();
        if (observer) painted(observer.takeRecords());
        // Element Timing may still be on its way: wait a little for it, then take the frame's time.
        setTimeout(() => finish(now), elementTiming ? 1000 : 0);
      })
      .catch(() => finish(null));
  });
}

/**
 * The first image: the page's <img> of the start slice when it has one (a new reading), else
 * the start slice drawn before the viewer is loaded (firstpaint.js). Never fails (the viewer
 * draws the slice anyway).
 */
async function firstImage(config, seriesUrl, metadata) {
  const img = $("#first-image");
  if (img) {
    const painted = await imagePainted(img);
    if (painted !== null) {
      performance.mark("workstation:first-image", { startTime: painted });
      return;
    }
    img.remove();
  }
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
  const { metadata, frames } = await seriesLoadStart(config, seriesUrl);
  const shown = firstImage(config, seriesUrl, metadata);
  // The viewer's bundle (1.4 MB + a 3 MB shared chunk) is fetched once the first image is on
  // screen: compiling it earlier (modulepreload from the page's head) held the browser's first
  // paint back, PNG already there (bench/workstation.py, interleaved on 2 cores: first image
  // median 916/920 ms with the preload, 688/604 ms without; full series unchanged).
  await Promise.race([shown, new Promise((resolve) => setTimeout(resolve, VIEWER_WAIT_MS))]);
  const { Viewer } = await import(config.viewerScript);
  wireViewer(store, Viewer, metadata);
  const { viewer, marks } = store.state;
  await viewer.start(seriesUrl, metadata, { frames });
  shown.then(() => {
    $("#first-paint").hidden = true;
    $("#first-image")?.remove(); // the viewer shows the slice now; the PNG's memory can go
  });
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
