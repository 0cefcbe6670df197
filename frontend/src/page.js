// Helpers every page script shares (workstation.js, reference.js, measure.js): DOM look-ups,
// the page's configuration, messages, the CSRF token, JSON fetches, the autosave indicator,
// the viewer's readouts (slice, window, position, slider) and the hook the browser tests read.

import { SaveQueue } from "./autosave.js";

/** The first element matching `selector` (in `root`), or null. */
export const $ = (selector, root = document) => root.querySelector(selector);

/** Every element matching `selector` (in `root`), as an array. */
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** URL of the folder the page's bundle is served from (the viewer's bundle and codecs are beside it). */
export const staticBase = new URL(".", import.meta.url).href;

/** The page's configuration: the JSON in <script type="application/json" id="…"> (Django's json_script). */
export function readConfig(id) {
  return JSON.parse(document.getElementById(id).textContent);
}

/** Django's CSRF token from the first form field in `scope` ("" when there is none). */
export function csrfToken(scope = document) {
  return scope?.querySelector("[name=csrfmiddlewaretoken]")?.value || "";
}

/** Show `text` in the viewer's message box (#viewer-message); an empty text hides it. */
export function showMessage(text) {
  const box = $("#viewer-message");
  box.textContent = text;
  box.hidden = !text;
}

/**
 * Run the page's asynchronous start-up and record its outcome in `document.body.dataset[name]`:
 * "ready" when `started` resolves; on an error it is logged, shown in the message box ("The
 * images could not be shown: …") and the dataset says "error". The browser tests wait on it.
 */
export function runPage(name, started) {
  return started
    .then(() => {
      document.body.dataset[name] = "ready";
    })
    .catch((error) => {
      console.error(error);
      showMessage(`The images could not be shown: ${error.message}`);
      document.body.dataset[name] = "error";
    });
}

/** The WADO-RS URL (absolute) of the series a viewer configuration names. */
export function seriesUrlOf({ dicomwebRoot, studyUid, seriesUid }) {
  return `${location.origin}${dicomwebRoot}studies/${studyUid}/series/${seriesUid}`;
}

/**
 * GET `url` as JSON; throws on an error status ("<what>: 404 Not Found"; no prefix when `what`
 * is empty). No custom headers: a page that preloads the URL (<link rel=preload as=fetch>)
 * gets that response, as a plain same-origin GET reuses it.
 */
export async function fetchJson(url, what = url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${what ? `${what}: ` : ""}${response.status} ${response.statusText}`);
  return response.json();
}

/** GET `url` as JSON, or null when the server answers with an error status. */
export async function fetchJsonIfOk(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  return response.ok ? response.json() : null;
}

/**
 * The page's SaveQueue (autosave.js), shown in the #save-state indicator; a change the server
 * refuses is shown in the viewer's message box.
 * @param {object} options
 * @param {string} options.storageKey
 * @param {string} options.csrfToken
 * @param {(state: string, text: string) => void} [options.onState]  called after the indicator is updated
 */
export function createSaveQueue({ storageKey, csrfToken: token, onState = () => {} }) {
  const indicator = $("#save-state");
  return new SaveQueue({
    storageKey,
    csrfToken: token,
    onState: (state, text) => {
      indicator.dataset.state = state;
      indicator.textContent = text;
      onState(state, text);
    },
    onRejected: (change, message) => showMessage(`Not saved: ${message}`),
  });
}

/**
 * Keep a viewer's readouts up to date: the slider, the slice ("Slice 3 / 24", with the plane of a
 * reformat), the window ("W 400  L 40") and position overlays, the viewport's data-slice; the
 * slider scrolls the viewer; the viewer's errors go to the message box. A single image (a
 * radiograph) has no slider, "Single image" for its slice and its pixel spacing for position.
 * With a `zoom` element, the zoom factor relative to the fitted image ("Zoom 1.5×", zoomText).
 * @param {import("./viewer.js").Viewer} viewer
 * @param {{slider: HTMLInputElement, slice: HTMLElement, window: HTMLElement, position: HTMLElement, zoom?: HTMLElement}} elements
 */
export function showViewerReadouts(viewer, { slider, slice, window: windowLabel, position, zoom = null }) {
  if (zoom) viewer.addEventListener("rendered", () => showZoom(viewer, zoom));
  viewer.addEventListener("slice", ({ detail }) => {
    slider.max = String(detail.count - 1);
    slider.value = String(detail.index);
    // One image (a radiograph): no slider, no slice count.
    const sliderBox = slider.closest(".ws-slider") || slider;
    sliderBox.hidden = viewer.single;
    const planeName = viewer.plane === "acquired" ? "" : ` (${viewer.plane})`;
    slice.textContent = viewer.single ? "Single image" : `Slice ${detail.index + 1} / ${detail.count}${planeName}`;
    position.textContent = viewer.positionText();
    viewer.element.dataset.slice = String(detail.index);
  });
  viewer.addEventListener("window", () => {
    const w = viewer.window;
    if (w) windowLabel.textContent = `W ${Math.round(w.width)}  L ${Math.round(w.center)}`;
  });
  viewer.addEventListener("error", ({ detail }) => showMessage(detail.message));
  slider.addEventListener("input", () => viewer.scrollTo(Number(slider.value)));
}

/** The zoom factor as shown: relative to the image fitted to the viewport, two significant digits. */
export function zoomText(factor) {
  return `Zoom ${Number(factor.toPrecision(2))}×`;
}

function showZoom(viewer, element) {
  const factor = viewer.viewport?.getZoom?.();
  if (!Number.isFinite(factor) || factor <= 0) return;
  const text = zoomText(factor);
  if (element.textContent !== text) element.textContent = text;
  element.dataset.zoom = String(factor);
}

/**
 * Fill `box` with one button per window preset (viewer.presets()).
 * @param {HTMLElement} box
 * @param {Array<{name: string, window: object}>} presets
 * @param {(preset: object) => void} choose      a button was clicked
 * @param {(preset: object, index: number) => string} [title]  the buttons' tooltips
 */
export function renderPresets(box, presets, choose, title = null) {
  box.replaceChildren(
    ...presets.map((preset, i) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = preset.name;
      if (title) button.title = title(preset, i);
      button.addEventListener("click", () => choose(preset));
      return button;
    }),
  );
}

/**
 * TEST HOOK, for the browser tests in tests/browser/ only: no page script reads it.
 *
 * Defines `window[name]` as a frozen object whose properties are read-only getters (e.g.
 * `window.workstation.viewer`), so a test can look at the page's viewer or save queue
 * without the page exposing state that scripts could change.
 * @param {string} name
 * @param {Record<string, () => any>} getters
 */
export function exposeTestHook(name, getters) {
  const hook = {};
  for (const [key, get] of Object.entries(getters)) Object.defineProperty(hook, key, { get, enumerable: true });
  Object.defineProperty(window, name, { value: Object.freeze(hook), writable: false, configurable: false });
}
