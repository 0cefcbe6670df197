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

import { SaveQueue } from "./autosave.js";
import { firstPaint } from "./firstpaint.js";
import { postForm } from "./forms.js";
import { uuid4 } from "./ids.js";
import { MarkLayer } from "./marks.js";
import { ScoringPanel } from "./scoring.js";
import { Telemetry } from "./telemetry.js";

const TELEMETRY_EVERY_MS = 15000;
const POSITION_DELAY_MS = 400;

const $ = (selector) => document.querySelector(selector);

function csrfToken() {
  return document.querySelector("#reading-form [name=csrfmiddlewaretoken]")?.value || "";
}

function showMessage(text) {
  const box = $("#viewer-message");
  box.textContent = text;
  box.hidden = !text;
}

async function fetchJson(url) {
  // No custom headers: the page preloads this URL (<link rel=preload as=fetch>) and a plain
  // same-origin GET reuses that response.
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
  return response.json();
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

function main() {
  performance.mark("workstation:script");
  const config = JSON.parse($("#workstation-config").textContent);
  const staticBase = new URL(".", import.meta.url).href;
  const { dicomwebRoot, studyUid, seriesUid } = config;
  const seriesUrl = `${location.origin}${dicomwebRoot}studies/${studyUid}/series/${seriesUid}`;
  const visitId = uuid4();
  const form = $("#reading-form");

  // ---- autosave ----------------------------------------------------------------------
  const saveState = $("#save-state");
  const queue = new SaveQueue({
    storageKey: `readerstudy:unsaved:${config.reading}`,
    csrfToken: csrfToken(),
    onState: (state, text) => {
      saveState.dataset.state = state;
      saveState.textContent = text;
    },
    onRejected: (change, message) => showMessage(`Not saved: ${message}`),
  });
  queue.kick(); // send what a previous visit left unsaved

  // ---- telemetry -----------------------------------------------------------------------
  const telemetry = new Telemetry();
  // A submitted, locked reading is only looked at: its time on task is final.
  const reportVisit = () => {
    if (config.editable && telemetry.changed) {
      queue.put("visit", "PUT", `${config.api.visits}${visitId}`, telemetry.report());
    }
  };
  setInterval(reportVisit, TELEMETRY_EVERY_MS);

  let viewer = null;
  let viewerReady = false;
  let marks = null;
  let applyPreset = () => {};
  let setPlane = async () => {};

  // ---- scoring -------------------------------------------------------------------------
  const scoring = new ScoringPanel(
    form,
    (key, answer) => queue.put(`answer:${key}`, "POST", config.api.answers, { question: key, ...answer }),
    (key) => queue.draft(`answer:${key}`),
  );
  // Answers a closed tab left unsent are shown (and sent) again.
  for (const change of queue.restoredChanges()) {
    if (change.key.startsWith("answer:") && change.body) scoring.show(change.key.slice(7), change.body);
  }

  // ---- submit: everything saved first, then the form posts ----------------------------
  let submitting = false;
  form.addEventListener("submit", async (event) => {
    if (submitting) return;
    event.preventDefault();
    const button = event.submitter;
    if (marks && marks.unrated.length && button?.name === "submit") {
      showMessage("Choose a confidence for every mark (or delete it) before submitting.");
      marks.select(marks.unrated[0].client_id);
      return;
    }
    scoring.flushPending();
    reportVisit();
    await queue.flush();
    submitting = true;
    postForm(form, button);
  });

  const leave = async (url) => {
    if (!url) return;
    scoring.flushPending();
    reportVisit();
    await queue.flush();
    location.href = url;
  };
  for (const link of document.querySelectorAll("#previous-reading, #next-reading")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      leave(link.href);
    });
  }

  // Leaving the page: send the telemetry and whatever is unsaved (kept in localStorage too).
  window.addEventListener("pagehide", () => {
    scoring.flushPending();
    reportVisit();
    queue.sendBeforeUnload();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") reportVisit();
  });
  window.addEventListener("beforeunload", (event) => {
    if (!queue.idle && !submitting) event.preventDefault();
  });

  /** Create the viewer (once its bundle is loaded) and wire it to the page. */
  const viewerWire = (Viewer) => {
    // ---- viewer ------------------------------------------------------------------------
    const element = $("#viewport");
    viewer = new Viewer(element, config, staticBase);
    const slider = $("#slice-slider");
    const overlaySlice = $("#overlay-slice");
    const overlayWindow = $("#overlay-window");
    const overlayPosition = $("#overlay-position");
    let positionTimer = null;

    marks = config.markScale.length
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
        })
      : null;

    viewer.addEventListener("slice", ({ detail }) => {
      slider.max = String(detail.count - 1);
      slider.value = String(detail.index);
      const planeName = viewer.plane === "acquired" ? "" : ` (${viewer.plane})`;
      overlaySlice.textContent = `Slice ${detail.index + 1} / ${detail.count}${planeName}`;
      overlayPosition.textContent = viewer.positionText();
      if (viewer.plane === "acquired" && config.editable) {
        telemetry.sliceShown(detail.index);
        clearTimeout(positionTimer);
        positionTimer = setTimeout(
          () => queue.put("position", "POST", config.api.position, { slice: detail.index }),
          POSITION_DELAY_MS,
        );
      }
      element.dataset.slice = String(detail.index);
    });

    let windowDragged = false;
    let presetApplying = false;
    viewer.addEventListener("window", () => {
      const w = viewer.window;
      if (w) overlayWindow.textContent = `W ${Math.round(w.width)}  L ${Math.round(w.center)}`;
      if (!presetApplying) windowDragged = true;
    });
    // One drag is one window/level change, however many mouse moves it takes.
    element.addEventListener("pointerup", () => {
      if (windowDragged) telemetry.windowChanged();
      windowDragged = false;
    });
    viewer.addEventListener("rendered", () => marks && marks.draw());
    viewer.addEventListener("error", ({ detail }) => showMessage(detail.message));

    slider.addEventListener("input", () => viewer.scrollTo(Number(slider.value)));

    applyPreset = (preset) => {
      presetApplying = true;
      viewer.setWindow(preset.window);
      presetApplying = false;
      telemetry.windowChanged();
    };
    const renderPresets = () => {
      const box = $("#presets");
      box.replaceChildren(
        ...viewer.presets().map((preset, i) => {
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = preset.name;
          button.title = `${preset.name} window (Shift+${i + 1})`;
          button.addEventListener("click", () => applyPreset(preset));
          return button;
        }),
      );
    };

    const planeButtons = [...document.querySelectorAll("[data-plane]")];
    setPlane = async (plane) => {
      try {
        await viewer.setPlane(plane);
        for (const b of planeButtons) b.setAttribute("aria-pressed", String(b.dataset.plane === viewer.plane));
        marks && marks.draw();
      } catch (error) {
        showMessage(error.message);
      }
    };
    for (const button of planeButtons) button.addEventListener("click", () => setPlane(button.dataset.plane));
    $("#reset-view").addEventListener("click", () => viewer.reset());
    // Called once the viewer shows the series.
    return () => {
      renderPresets();
      for (const b of planeButtons) if (b.dataset.plane !== "acquired") b.disabled = !viewer.canReformat;
    };
  };

  // ---- keyboard ----------------------------------------------------------------------
  const help = $("#help");
  $("#help-toggle").addEventListener("click", () => help.showModal());
  // Keys that act on the image do nothing until the viewer shows the series.
  const onViewer = (action) => {
    if (viewerReady) action();
    return viewerReady;
  };
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text")) return;
    if (event.ctrlKey || event.metaKey || event.altKey || help.open) return;
    const digit = /^Digit(\d)$/.exec(event.code);
    let handled = true;
    if (digit && event.shiftKey) {
      handled = onViewer(() => {
        const preset = viewer.presets()[Number(digit[1]) - 1];
        if (preset) applyPreset(preset);
      });
    } else if (digit) {
      const value = Number(digit[1]);
      handled = (marks && marks.rateSelected(value)) || scoring.numberKey(value);
    } else {
      switch (event.key) {
        case "ArrowUp":
        case "PageUp":
          handled = onViewer(() => viewer.scrollBy(event.key === "PageUp" ? -10 : -1));
          break;
        case "ArrowDown":
        case "PageDown":
          handled = onViewer(() => viewer.scrollBy(event.key === "PageDown" ? 10 : 1));
          break;
        case "Home":
          handled = onViewer(() => viewer.scrollTo(0));
          break;
        case "End":
          handled = onViewer(() => viewer.scrollTo(Infinity));
          break;
        case "r":
        case "R":
          handled = onViewer(() => viewer.reset());
          break;
        case "a":
        case "A":
          handled = onViewer(() => setPlane("acquired"));
          break;
        case "c":
        case "C":
          handled = onViewer(() => setPlane("coronal"));
          break;
        case "s":
        case "S":
          handled = onViewer(() => setPlane("sagittal"));
          break;
        case "n":
        case "N":
          leave(config.nextUrl);
          break;
        case "p":
        case "P":
          leave(config.previousUrl);
          break;
        case "Delete":
        case "Backspace":
          if (marks && marks.selected) marks.remove(marks.selected);
          else handled = false;
          break;
        case "Tab":
          handled = target === $("#viewport") && marks ? marks.selectNext() : false;
          break;
        case "Escape":
          if (marks) marks.select(null);
          break;
        case "?":
          help.showModal();
          break;
        default:
          handled = false;
      }
    }
    if (handled) event.preventDefault();
  });

  // ---- start -------------------------------------------------------------------------
  const workstation = { config, viewer: null, marks: null, queue, telemetry, scoring };
  window.workstation = workstation;
  (async () => {
    const metadata = await fetchJson(`${seriesUrl}/metadata`);
    if (!metadata.length) throw new Error("This series has no images.");
    performance.mark("workstation:metadata");
    await firstImage(config, seriesUrl, metadata);
    const { Viewer } = await import(config.viewerScript);
    const viewerShown = viewerWire(Viewer);
    workstation.viewer = viewer;
    workstation.marks = marks;
    await viewer.start(seriesUrl, metadata);
    $("#first-paint").hidden = true;
    viewerReady = true;
    viewerShown();
    if (marks) {
      const response = await fetch(config.api.state, { credentials: "same-origin" });
      if (response.ok) marks.load((await response.json()).marks);
      // Changes restored from localStorage win over the server's copy until they are sent.
      for (const change of queue.restoredChanges()) {
        const id = change.key.startsWith("mark:") ? change.key.slice(5) : null;
        if (!id) continue;
        if (change.method === "DELETE") marks.marks.delete(id);
        else marks.marks.set(id, { client_id: id, ...change.body });
      }
      marks.refresh();
    }
    document.body.dataset.workstation = "ready";
  })().catch((error) => {
    console.error(error);
    showMessage(`The images could not be shown: ${error.message}`);
    document.body.dataset.workstation = "error";
  });
}

main();
