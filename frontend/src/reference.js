// The reference drafting page (templates/readerstudy/reference_draft.html): a reviewer marks
// the true lesions of one case in the same viewer readers use, each with a diameter (mm) and a
// type, and records the case's truth and findings in the form beside it.
//
// The page's configuration is the JSON in #draft-config (views.references.reference_draft).
// The Cornerstone viewer is the workstation's own bundle (config.viewerScript), loaded with
// import(); its DICOMweb root is the draft's (/dicomweb/d/<draft id>/).
//
// Lesions: in "point" mode a click on the image places a lesion (then type its diameter and
// type in the panel); in "measure" mode two clicks on the same slice set the diameter from
// their distance in patient space (mm, viewer.imageToWorld) and put the lesion at their
// midpoint (the selected lesion, or a new one). A lesion is saved (PUT, JSON) once it has a
// diameter; deleting sends DELETE. Saving goes through the workstation's SaveQueue: retried
// until it lands, kept in localStorage meanwhile, and flushed before the form is submitted.

import { SaveQueue } from "./autosave.js";
import { postForm } from "./forms.js";
import { uuid4 } from "./ids.js";
import { onImageClick } from "./pointer.js";

const SVG = "http://www.w3.org/2000/svg";
const UNSIZED_RADIUS_PX = 12;

const $ = (selector) => document.querySelector(selector);

function showMessage(text) {
  const box = $("#viewer-message");
  box.textContent = text;
  box.hidden = !text;
}

function distance(a, b) {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/** The reviewer's lesions over the image and in the panel. */
export class LesionLayer {
  constructor({ viewer, svg, list, rowTemplate, countLabel, hint, editable, onSave, onDelete }) {
    Object.assign(this, { viewer, svg, list, rowTemplate, countLabel, hint, editable, onSave, onDelete });
    this.lesions = new Map(); // client_id -> {client_id, slice, x, y, size_mm, lesion_type}
    this.selected = null;
    this.mode = "point";
    this.measureStart = null;
    this.listenForClicks();
  }

  load(lesions) {
    for (const lesion of lesions) this.lesions.set(lesion.client_id, { ...lesion });
    this.refresh();
  }

  get unsized() {
    return [...this.lesions.values()].filter((lesion) => !(lesion.size_mm > 0));
  }

  setMode(mode) {
    this.mode = mode;
    this.measureStart = null;
    for (const button of document.querySelectorAll("[data-mode]")) {
      button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
    }
    this.hint.textContent = mode === "measure" ? "Measure: click one end of the lesion." : "";
    this.draw();
  }

  // ---- clicks on the image -------------------------------------------------------------

  listenForClicks() {
    onImageClick(this.viewer, (point) => {
      if (!this.editable) return;
      if (this.mode === "measure") this.measureClick(point);
      else this.place(point);
    });
  }

  place({ slice, x, y }) {
    // A lesion placed without a diameter is replaced by the next one, not kept as a second "?".
    for (const lesion of this.unsized) this.lesions.delete(lesion.client_id);
    const lesion = { client_id: uuid4(), slice, x, y, size_mm: null, lesion_type: "" };
    this.lesions.set(lesion.client_id, lesion);
    this.select(lesion.client_id);
    this.list.querySelector(`[data-client-id="${lesion.client_id}"] .lesion-size`)?.focus();
  }

  measureClick(point) {
    if (!this.measureStart || this.measureStart.slice !== point.slice) {
      this.measureStart = point;
      this.hint.textContent = "Measure: click the other end.";
      this.draw();
      return;
    }
    const start = this.measureStart;
    const mm = distance(
      this.viewer.imageToWorld(start.slice, start.x, start.y),
      this.viewer.imageToWorld(point.slice, point.x, point.y),
    );
    this.measureStart = null;
    if (mm < 0.1) {
      this.hint.textContent = "Measure: the two ends are the same point; click one end again.";
      return;
    }
    const centre = { slice: point.slice, x: (start.x + point.x) / 2, y: (start.y + point.y) / 2 };
    let lesion = this.lesions.get(this.selected);
    if (!lesion) {
      lesion = { client_id: uuid4(), lesion_type: "" };
      this.lesions.set(lesion.client_id, lesion);
      this.selected = lesion.client_id;
    }
    Object.assign(lesion, centre, { size_mm: Math.round(mm * 10) / 10 });
    this.onSave(lesion);
    this.setMode("point");
    this.refresh();
  }

  // ---- editing ---------------------------------------------------------------------------

  setSize(clientId, value) {
    const lesion = this.lesions.get(clientId);
    const mm = Number(value);
    if (!lesion || !this.editable || !(mm > 0)) return;
    lesion.size_mm = mm;
    this.onSave(lesion);
    this.draw();
  }

  setType(clientId, value) {
    const lesion = this.lesions.get(clientId);
    if (!lesion || !this.editable) return;
    lesion.lesion_type = value.trim();
    if (lesion.size_mm > 0) this.onSave(lesion);
  }

  remove(clientId) {
    const lesion = this.lesions.get(clientId);
    if (!lesion || !this.editable) return;
    this.lesions.delete(clientId);
    if (lesion.size_mm > 0) this.onDelete(lesion);
    if (this.selected === clientId) this.selected = null;
    this.refresh();
  }

  select(clientId) {
    this.selected = clientId;
    this.refresh();
  }

  async goTo(clientId) {
    const lesion = this.lesions.get(clientId);
    if (!lesion) return;
    await this.viewer.scrollTo(lesion.slice);
    this.select(clientId);
  }

  // ---- drawing -----------------------------------------------------------------------------

  refresh() {
    this.draw();
    this.renderList();
  }

  /** Canvas radius of a lesion's diameter, measured along the image rows. */
  radius(lesion, where) {
    if (!(lesion.size_mm > 0)) return UNSIZED_RADIUS_PX;
    const here = this.viewer.imageToWorld(lesion.slice, lesion.x, lesion.y);
    const next = this.viewer.imageToWorld(lesion.slice, lesion.x + 1, lesion.y);
    const pixels = lesion.size_mm / 2 / (distance(here, next) || 1);
    const edge = this.viewer.worldToCanvas(this.viewer.imageToWorld(lesion.slice, lesion.x + pixels, lesion.y));
    return Math.max(3, Math.hypot(edge.x - where.x, edge.y - where.y));
  }

  draw() {
    this.svg.replaceChildren();
    if (!this.viewer.engine || !this.viewer.viewport) return;
    let number = 0;
    for (const lesion of this.lesions.values()) {
      number += 1;
      const where = this.viewer.worldToCanvas(this.viewer.imageToWorld(lesion.slice, lesion.x, lesion.y));
      const onPlane = where.distance <= where.spacing / 2 + 1e-3;
      const nearby = !onPlane && where.distance <= where.spacing * 1.5 + 1e-3;
      if (!onPlane && !nearby) continue;
      const group = document.createElementNS(SVG, "g");
      group.classList.add("mark", "lesion");
      if (nearby) group.classList.add("nearby");
      if (lesion.client_id === this.selected) group.classList.add("selected");
      group.dataset.clientId = lesion.client_id;
      const circle = document.createElementNS(SVG, "circle");
      circle.setAttribute("cx", where.x);
      circle.setAttribute("cy", where.y);
      circle.setAttribute("r", this.radius(lesion, where));
      const text = document.createElementNS(SVG, "text");
      text.setAttribute("x", where.x + 8);
      text.setAttribute("y", where.y - 8);
      text.textContent = `${number} · ${lesion.size_mm > 0 ? `${lesion.size_mm} mm` : "?"}`;
      group.append(circle, text);
      group.addEventListener("pointerdown", (event) => {
        event.preventDefault();
        event.stopPropagation();
        this.select(lesion.client_id);
      });
      this.svg.append(group);
    }
    const start = this.measureStart;
    if (start && this.viewer.plane === "acquired" && this.viewer.sliceIndex() === start.slice) {
      const where = this.viewer.worldToCanvas(this.viewer.imageToWorld(start.slice, start.x, start.y));
      const dot = document.createElementNS(SVG, "circle");
      dot.classList.add("measure-start");
      dot.setAttribute("cx", where.x);
      dot.setAttribute("cy", where.y);
      dot.setAttribute("r", 3);
      this.svg.append(dot);
    }
  }

  renderList() {
    const rows = [];
    let number = 0;
    for (const lesion of this.lesions.values()) {
      number += 1;
      const row = this.rowTemplate.content.firstElementChild.cloneNode(true);
      row.dataset.clientId = lesion.client_id;
      row.classList.toggle("selected", lesion.client_id === this.selected);
      const go = row.querySelector(".mark-go");
      go.textContent = `Lesion ${number} · slice ${lesion.slice + 1}`;
      go.addEventListener("click", () => this.goTo(lesion.client_id));
      const size = row.querySelector(".lesion-size");
      size.value = lesion.size_mm > 0 ? String(lesion.size_mm) : "";
      size.disabled = !this.editable;
      size.addEventListener("change", () => this.setSize(lesion.client_id, size.value));
      size.addEventListener("focus", () => {
        this.selected = lesion.client_id;
        this.draw();
      });
      const type = row.querySelector(".lesion-type");
      type.value = lesion.lesion_type || "";
      type.disabled = !this.editable;
      type.addEventListener("change", () => this.setType(lesion.client_id, type.value));
      const remove = row.querySelector(".mark-delete");
      remove.disabled = !this.editable;
      remove.addEventListener("click", () => this.remove(lesion.client_id));
      rows.push(row);
    }
    this.list.replaceChildren(...rows);
    this.countLabel.textContent = String(this.lesions.size);
  }
}

function main() {
  const config = JSON.parse($("#draft-config").textContent);
  const staticBase = new URL(".", import.meta.url).href;
  const seriesUrl = `${location.origin}${config.dicomwebRoot}studies/${config.studyUid}/series/${config.seriesUid}`;
  const form = $("#draft-form");
  const saveState = $("#save-state");
  const queue = new SaveQueue({
    storageKey: `readerstudy:unsaved-reference:${config.reading}`,
    csrfToken: form.querySelector("[name=csrfmiddlewaretoken]")?.value || "",
    onState: (state, text) => {
      saveState.dataset.state = state;
      saveState.textContent = text;
    },
    onRejected: (change, message) => showMessage(`Not saved: ${message}`),
  });
  queue.kick(); // what a previous visit left unsaved
  const page = { config, queue, viewer: null, lesions: null };
  window.referenceDraft = page;

  // ---- the form: lesions saved first, then the form posts ----------------------------------
  let submitting = false;
  form.addEventListener("submit", async (event) => {
    if (submitting) return;
    event.preventDefault();
    const button = event.submitter;
    if (page.lesions && page.lesions.unsized.length && button?.name === "submit") {
      showMessage("Give every lesion a diameter (or delete it) before submitting.");
      page.lesions.select(page.lesions.unsized[0].client_id);
      return;
    }
    await queue.flush();
    submitting = true;
    postForm(form, button);
  });
  window.addEventListener("pagehide", () => queue.sendBeforeUnload());
  window.addEventListener("beforeunload", (event) => {
    if (!queue.idle && !submitting) event.preventDefault();
  });

  (async () => {
    const response = await fetch(`${seriesUrl}/metadata`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    const metadata = await response.json();
    if (!metadata.length) throw new Error("This series has no images.");
    const { Viewer } = await import(config.viewerScript);
    const viewer = new Viewer($("#viewport"), config, staticBase);
    page.viewer = viewer;
    const slider = $("#slice-slider");
    viewer.addEventListener("slice", ({ detail }) => {
      slider.max = String(detail.count - 1);
      slider.value = String(detail.index);
      $("#overlay-slice").textContent = `Slice ${detail.index + 1} / ${detail.count}`;
      $("#overlay-position").textContent = viewer.positionText();
      viewer.element.dataset.slice = String(detail.index);
    });
    viewer.addEventListener("window", () => {
      const w = viewer.window;
      if (w) $("#overlay-window").textContent = `W ${Math.round(w.width)}  L ${Math.round(w.center)}`;
    });
    viewer.addEventListener("rendered", () => page.lesions && page.lesions.draw());
    viewer.addEventListener("error", ({ detail }) => showMessage(detail.message));
    slider.addEventListener("input", () => viewer.scrollTo(Number(slider.value)));

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
    for (const button of document.querySelectorAll("[data-mode]")) {
      button.addEventListener("click", () => lesions.setMode(button.dataset.mode));
    }

    await viewer.start(seriesUrl, metadata);
    $("#presets").replaceChildren(
      ...viewer.presets().map((preset) => {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = preset.name;
        button.addEventListener("click", () => viewer.setWindow(preset.window));
        return button;
      }),
    );
    $("#reset-view").addEventListener("click", () => viewer.reset());

    const state = await fetch(config.api.state, { credentials: "same-origin" });
    if (state.ok) lesions.load((await state.json()).lesions);
    // Changes restored from localStorage win over the server's copy until they are sent.
    for (const change of queue.restoredChanges()) {
      if (!change.key.startsWith("lesion:")) continue;
      const id = change.key.slice("lesion:".length);
      if (change.method === "DELETE") lesions.lesions.delete(id);
      else lesions.lesions.set(id, { client_id: id, ...change.body });
    }
    lesions.refresh();

    document.addEventListener("keydown", (event) => {
      const target = event.target;
      if (["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      let handled = true;
      switch (event.key) {
        case "ArrowUp":
          viewer.scrollBy(-1);
          break;
        case "ArrowDown":
          viewer.scrollBy(1);
          break;
        case "r":
        case "R":
          viewer.reset();
          break;
        case "m":
        case "M":
          if (config.editable) lesions.setMode("measure");
          break;
        case "p":
        case "P":
          lesions.setMode("point");
          break;
        case "Escape":
          lesions.setMode("point");
          lesions.select(null);
          break;
        case "Delete":
        case "Backspace":
          if (lesions.selected) lesions.remove(lesions.selected);
          else handled = false;
          break;
        default:
          handled = false;
      }
      if (handled) event.preventDefault();
    });
    document.body.dataset.reference = "ready";
  })().catch((error) => {
    console.error(error);
    showMessage(`The images could not be shown: ${error.message}`);
    document.body.dataset.reference = "error";
  });
}

main();
