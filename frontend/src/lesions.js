// The reviewer's lesions on the reference drafting page (reference.js): over the image
// (overlay.js) and in the panel, each with a diameter (mm) and a type.
//
// In "point" mode a click on the image places a lesion (then type its diameter and type in the
// panel); in "measure" mode two clicks on the same slice set the diameter from their distance
// in patient space (mm, viewer.imageToWorld) and put the lesion at their midpoint (the selected
// lesion, or a new one). A lesion is saved (onSave) once it has a diameter.

import { uuid4 } from "./ids.js";
import { AnnotationLayer } from "./overlay.js";
import { onImageClick } from "./pointer.js";

const UNSIZED_RADIUS_PX = 12;
const MIN_RADIUS_PX = 3;

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
    this.overlay = new AnnotationLayer({ viewer, svg, annotations: () => this.annotations() });
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

  draw() {
    this.overlay.draw();
  }

  /** The lesions as the overlay draws them (overlay.js), then the first click of a measurement. */
  *annotations() {
    const viewer = this.viewer;
    let number = 0;
    for (const lesion of this.lesions.values()) {
      number += 1;
      const sized = lesion.size_mm > 0;
      yield {
        id: lesion.client_id,
        className: "mark lesion",
        offPlaneClass: "nearby",
        selected: lesion.client_id === this.selected,
        points: [viewer.imageToWorld(lesion.slice, lesion.x, lesion.y)],
        shape: "circle",
        ...(sized ? { rim: this.rim(lesion), minRadius: MIN_RADIUS_PX } : { radius: UNSIZED_RADIUS_PX }),
        label: `${number} · ${sized ? `${lesion.size_mm} mm` : "?"}`,
        labelOffset: [8, -8],
        onPointerDown: (event) => {
          event.preventDefault();
          event.stopPropagation();
          this.select(lesion.client_id);
        },
      };
    }
    const start = this.measureStart;
    if (start && viewer.plane === "acquired" && viewer.sliceIndex() === start.slice) {
      yield { marker: true, className: "measure-start", point: viewer.imageToWorld(start.slice, start.x, start.y) };
    }
  }

  /** A patient point on the lesion's circle: half its diameter along the image rows. */
  rim(lesion) {
    const here = this.viewer.imageToWorld(lesion.slice, lesion.x, lesion.y);
    const next = this.viewer.imageToWorld(lesion.slice, lesion.x + 1, lesion.y);
    const pixels = lesion.size_mm / 2 / (distance(here, next) || 1);
    return this.viewer.imageToWorld(lesion.slice, lesion.x + pixels, lesion.y);
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
      go.textContent = this.viewer.single ? `Lesion ${number}` : `Lesion ${number} · slice ${lesion.slice + 1}`;
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
