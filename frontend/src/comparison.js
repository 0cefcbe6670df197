// The comparative reading page (templates/readerstudy/reading_detail.html with
// _comparison_viewer.html): the conditions of one case side by side, one viewer each
// (viewer.js, loaded with import()), labelled A, B, … or "Reference", never by condition.
//
// Linked (the default; the "Linked" toggle button or L): scrolling one viewport takes the others to
// their slice nearest to the same patient position (along each series' own slice normal,
// as measure.js does), and zoom, pan and window/level follow across the viewports. The
// answers autosave through the same SaveQueue and ScoringPanel as the single workstation.
//
// The configuration is the JSON in #workstation-config (reading.views.reading_detail):
//   {reading, editable, submitted, layout: "comparative",
//    viewports: [{label, isReference, dicomwebRoot, studyUid, seriesUid, numSlices, startSlice}],
//    numSlices, startSlice, markScale: [], lesionTargets: [], api: {state, answers, position,
//    marks, visits}, previousUrl, nextUrl, viewerScript}

import { submitWhenSaved } from "./forms.js";
import { OrientationLabels } from "./orientation.js";
import { uuid4 } from "./ids.js";
import { isTextEntry, listenForKeys, renderKeymapHelp } from "./keymap.js";
import {
  $,
  $$,
  createSaveQueue,
  csrfToken,
  exposeTestHook,
  fetchJson,
  readConfig,
  renderPresets,
  runPage,
  seriesUrlOf,
  showMessage,
  showViewerReadouts,
  staticBase,
} from "./page.js";
import { ScoringPanel } from "./scoring.js";
import { Telemetry } from "./telemetry.js";

const TELEMETRY_EVERY_MS = 15000;
// Cornerstone's event names (viewer.js dispatches them on the viewport element).
const CAMERA_MODIFIED = "CORNERSTONE_CAMERA_MODIFIED";

const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const unit = (a) => {
  const n = Math.hypot(a[0], a[1], a[2]) || 1;
  return [a[0] / n, a[1] / n, a[2] / n];
};

/** One viewport of the comparison: its viewer and where its slices lie. */
class Pane {
  constructor(index, config, cell) {
    Object.assign(this, { index, config, cell });
    this.viewer = null;
    this.syncTarget = null; // the slice a linked scroll is taking this viewer to
    this.offsets = null; // slice -> position along this series' normal (mm)
    this.normal = null;
  }

  get label() {
    return this.config.label;
  }

  /** Position (mm) of slice `index` along this series' slice normal. */
  offsetOf(index, normal) {
    return dot(this.viewer.imageToWorld(index, 0, 0), normal);
  }

  /** The slice normal of this series, from its first slice's in-plane directions. */
  sliceNormal() {
    if (!this.normal) {
      const origin = this.viewer.imageToWorld(0, 0, 0);
      const row = unit(sub(this.viewer.imageToWorld(0, 1, 0), origin));
      const column = unit(sub(this.viewer.imageToWorld(0, 0, 1), origin));
      this.normal = unit(cross(row, column));
    }
    return this.normal;
  }

  /** The slice of this series nearest to the patient point `world`. */
  nearestSlice(world) {
    const normal = this.sliceNormal();
    if (!this.offsets) this.offsets = this.viewer.imageIds.map((_, k) => this.offsetOf(k, normal));
    const target = dot(world, normal);
    let best = 0;
    for (let k = 1; k < this.offsets.length; k += 1) {
      if (Math.abs(this.offsets[k] - target) < Math.abs(this.offsets[best] - target)) best = k;
    }
    return best;
  }

  /** Patient position (mm) of the centre of the slice shown now. */
  slicePoint() {
    const index = this.viewer.sliceIndex();
    return this.viewer.imageToWorld(index, 0, 0);
  }

  /** Scroll to `index` because another viewport moved (its own event is then not passed on). */
  follow(index) {
    if (index === this.viewer.sliceIndex()) return;
    this.syncTarget = index;
    this.viewer.scrollTo(index);
  }
}

class ComparisonPage {
  constructor(config) {
    this.config = config;
    this.form = $("#reading-form");
    this.linked = true;
    this.ready = false; // viewports follow each other once all have started
    this.applying = false; // a linked change is being applied (its echoes are not passed on)
    this.telemetry = new Telemetry();
    this.visitId = uuid4();
    this.queue = createSaveQueue({ storageKey: `readerstudy:unsaved:${config.reading}`, csrfToken: csrfToken(this.form) });
    this.queue.kick();
    this.scoring = new ScoringPanel(
      this.form,
      (key, answer) => this.queue.put(`answer:${key}`, "POST", config.api.answers, { question: key, ...answer }),
      (key) => this.queue.draft(`answer:${key}`),
    );
    for (const change of this.queue.restoredChanges()) {
      if (change.key.startsWith("answer:") && change.body) this.scoring.show(change.key.slice(7), change.body);
    }
    const cells = $$(".ws-compare-cell");
    this.panes = config.viewports.map((viewport, index) => new Pane(index, viewport, cells[index]));
  }

  // ---- linking ---------------------------------------------------------------------------

  setLinked(linked) {
    this.linked = linked;
    const button = $("#link-toggle");
    button.setAttribute("aria-pressed", String(linked));
    button.title = linked
      ? "Linked: scrolling, zoom/pan and window follow across the viewports (L)"
      : "Unlinked: each viewport on its own (L links them again)";
    document.body.dataset.linked = String(linked);
    if (linked && this.ready) this.syncSlices(this.panes[0]);
  }

  others(source) {
    return this.panes.filter((pane) => pane !== source && pane.viewer?.engine && pane.viewer.viewport);
  }

  /** Scroll every other viewport to its slice nearest to the patient position `source` shows. */
  syncSlices(source) {
    if (!this.ready || !this.linked) return;
    const world = source.slicePoint();
    for (const pane of this.others(source)) pane.follow(pane.nearestSlice(world));
  }

  /** Give the others the zoom and pan of `source` (relative zoom, pan in world mm). */
  syncCamera(source) {
    if (!this.ready || !this.linked || this.applying) return;
    const from = source.viewer.viewport;
    if (typeof from.getZoom !== "function") return;
    const zoom = from.getZoom();
    const pan = from.getPan();
    this.applying = true;
    try {
      for (const pane of this.others(source)) {
        const to = pane.viewer.viewport;
        const [px, py] = to.getPan();
        if (Math.abs(to.getZoom() - zoom) > 1e-6) to.setZoom(zoom);
        if (Math.abs(px - pan[0]) > 1e-6 || Math.abs(py - pan[1]) > 1e-6) to.setPan(pan);
        to.render();
      }
    } finally {
      this.applying = false;
    }
  }

  /** Give the others the window/level of `source`. */
  syncWindow(source) {
    if (!this.ready || !this.linked || this.applying) return;
    const window = source.viewer.window;
    if (!window) return;
    this.applying = true;
    try {
      for (const pane of this.others(source)) {
        const own = pane.viewer.window;
        if (own && Math.abs(own.center - window.center) < 1e-6 && Math.abs(own.width - window.width) < 1e-6) continue;
        pane.viewer.setWindow(window);
      }
    } finally {
      this.applying = false;
    }
  }

  resetViews() {
    this.applying = true;
    try {
      for (const pane of this.panes) pane.viewer?.reset();
    } finally {
      this.applying = false;
    }
  }

  applyPreset(preset) {
    for (const pane of this.linked ? this.panes : this.panes.slice(0, 1)) pane.viewer?.setWindow(preset.window);
    this.telemetry.windowChanged();
  }

  // ---- viewers ---------------------------------------------------------------------------

  async start() {
    const { Viewer } = await import(this.config.viewerScript);
    await Promise.all(this.panes.map((pane) => this.startPane(pane, Viewer)));
    this.ready = true;
    this.syncSlices(this.panes[0]);
    renderPresets(
      $("#presets"),
      this.panes[0].viewer.presets(),
      (preset) => this.applyPreset(preset),
      (preset, i) => `${preset.name} window (Shift+${i + 1})`,
    );
  }

  async startPane(pane, Viewer) {
    const seriesUrl = seriesUrlOf(pane.config);
    const metadata = await fetchJson(`${seriesUrl}/metadata`, `Image ${pane.label}`);
    if (!metadata.length) throw new Error(`Image ${pane.label}: the series has no images.`);
    const element = $(".compare-viewport", pane.cell);
    // One engine per viewer, each with one WebGL context (see viewer.js, initCornerstone).
    const viewer = new Viewer(
      element,
      { ...pane.config, reading: `${this.config.reading}-${pane.index}`, viewerId: `c${pane.index}`, webGlContextsPerEngine: 1 },
      staticBase,
    );
    pane.viewer = viewer;
    showViewerReadouts(viewer, {
      slider: $(".compare-slider", pane.cell),
      slice: $(".overlay-slice", pane.cell),
      window: $(".overlay-window", pane.cell),
      position: $(".overlay-position", pane.cell),
      zoom: $(".overlay-zoom", pane.cell),
    });
    pane.orientation = new OrientationLabels({
      viewer,
      container: element.parentElement,
      projection: Boolean(pane.config.projection),
      patientOrientation: metadata[0]["00200020"]?.Value ?? null,
    });
    viewer.addEventListener("slice", ({ detail }) => {
      if (pane.index === 0 && this.config.editable) this.telemetry.sliceShown(detail.index);
      if (pane.syncTarget !== null) {
        const reached = pane.syncTarget === detail.index;
        pane.syncTarget = null;
        if (reached) return; // moved by another viewport: do not pass it on
      }
      this.syncSlices(pane);
    });
    viewer.addEventListener("window", () => this.syncWindow(pane));
    element.addEventListener(CAMERA_MODIFIED, () => this.syncCamera(pane));
    await viewer.start(seriesUrl, metadata);
  }
}

/** The page's keyboard shortcuts (keymap.js); the help dialog lists them. */
function comparisonKeymap(page) {
  const first = () => page.panes[0]?.viewer;
  const ready = () => page.ready;
  return [
    {
      id: "scroll",
      keys: ["ArrowUp", "ArrowDown", "PageUp", "PageDown"],
      description: "Previous / next slice of the first viewport (the others follow when linked)",
      when: ready,
      run: (event) => first().scrollBy({ ArrowUp: -1, ArrowDown: 1, PageUp: -10, PageDown: 10 }[event.key]),
    },
    {
      id: "link-toggle",
      keys: ["l"],
      description: "Link / unlink the viewports (scroll, zoom/pan, window)",
      run: () => page.setLinked(!page.linked),
    },
    {
      id: "window-preset",
      digits: "shift",
      label: "Shift + 1–9",
      description: "Window preset (in the order of the buttons)",
      when: ready,
      run: (event, digit) => {
        const preset = first().presets()[digit - 1];
        if (preset) page.applyPreset(preset);
      },
    },
    { id: "reset-view", keys: ["r"], description: "Reset zoom, pan and window", when: ready, run: () => page.resetViews() },
    {
      id: "next-reading",
      keys: ["n"],
      description: "Next reading",
      when: () => Boolean(page.config.nextUrl),
      run: () => page.leave(page.config.nextUrl),
    },
    {
      id: "previous-reading",
      keys: ["p"],
      description: "Previous reading",
      when: () => Boolean(page.config.previousUrl),
      run: () => page.leave(page.config.previousUrl),
    },
    { id: "show-help", keys: ["?"], description: "Keyboard shortcuts", run: () => $("#help").showModal() },
  ];
}

const GESTURES = [
  ["Wheel", "Previous / next slice (the other viewports follow when linked)"],
  ["Drag · right-drag · middle-drag", "Window/level · zoom · pan"],
];

function main() {
  const config = readConfig("workstation-config");
  const page = new ComparisonPage(config);
  const holdBack = () => {
    page.scoring.flushPending();
    if (config.editable && page.telemetry.changed) {
      page.queue.put("visit", "PUT", `${config.api.visits}${page.visitId}`, page.telemetry.report());
    }
  };
  page.leave = async (url) => {
    holdBack();
    await page.queue.flush();
    location.href = url;
  };
  setInterval(() => {
    if (config.editable && page.telemetry.changed) {
      page.queue.put("visit", "PUT", `${config.api.visits}${page.visitId}`, page.telemetry.report());
    }
  }, TELEMETRY_EVERY_MS);
  submitWhenSaved(page.form, { queue: page.queue, prepare: holdBack });
  for (const link of $$("#previous-reading, #next-reading")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      page.leave(link.href);
    });
  }
  window.addEventListener("pagehide", () => {
    holdBack();
    page.queue.sendBeforeUnload();
  });
  $("#link-toggle").addEventListener("click", () => page.setLinked(!page.linked));
  $("#reset-view").addEventListener("click", () => page.resetViews());
  const help = $("#help");
  const keymap = comparisonKeymap(page);
  renderKeymapHelp($("#help-keys"), keymap, GESTURES);
  $("#help-toggle").addEventListener("click", () => help.showModal());
  listenForKeys(keymap, { ignore: (event) => isTextEntry(event) || help.open });
  document.body.dataset.linked = "true";
  exposeTestHook("comparison", {
    queue: () => page.queue,
    linked: () => page.linked,
    panes: () => page.panes.map((pane) => Object.freeze({ label: pane.label, viewer: pane.viewer })),
  });
  runPage("workstation", page.start().catch((error) => {
    showMessage(error.message);
    throw error;
  }));
}

main();
