// Lesion marks: click on the image to place one, choose its confidence, drag to move it,
// delete it. Marks are drawn over the image on their slice (and dashed on the slices next to
// it, and on reformats near their plane: overlay.js) and listed in the panel.
//
// A mark is saved once its confidence is chosen; until then it is "unrated" and shown with
// a "?" (the reading cannot be submitted with an unrated mark).

import { uuid4 } from "./ids.js";
import { AnnotationLayer } from "./overlay.js";
import { CLICK_TOLERANCE_PX, onImageClick } from "./pointer.js";

const MARK_RADIUS_PX = 12;

export class MarkLayer {
  /**
   * @param {object} options
   * @param {import("./viewer.js").Viewer} options.viewer
   * @param {SVGSVGElement} options.svg          overlay over the viewport
   * @param {HTMLElement} options.list           <ol> of marks in the panel
   * @param {HTMLTemplateElement} options.rowTemplate
   * @param {Array<{value:number,label:string}>} options.scale  the study's confidence scale
   * @param {boolean} options.editable
   * @param {(mark: object) => void} options.onSave    a rated mark was placed, moved or re-rated
   * @param {(mark: object) => void} options.onDelete
   * @param {() => void} options.onFirstMark
   * @param {() => boolean} [options.paused]  clicks place no mark while it says so (the ruler is on)
   */
  constructor({ viewer, svg, list, rowTemplate, countLabel, scale, editable, onSave, onDelete, onFirstMark, paused }) {
    Object.assign(this, { viewer, svg, list, rowTemplate, countLabel, scale, editable, onSave, onDelete, onFirstMark });
    this.paused = paused;
    this.marks = new Map(); // client_id -> {client_id, slice, x, y, rating, label}
    this.selected = null;
    this.drag = null;
    this.overlay = new AnnotationLayer({ viewer, svg, annotations: () => this.annotations() });
    this.listenForPlacement();
  }

  /** Marks saved on the server (resume). */
  load(marks) {
    for (const mark of marks) this.marks.set(mark.client_id, { ...mark });
    this.refresh();
  }

  get unrated() {
    return [...this.marks.values()].filter((mark) => mark.rating === null);
  }

  // ---- placing and editing ----------------------------------------------------------

  listenForPlacement() {
    onImageClick(this.viewer, (point) => {
      if (this.editable && !this.paused?.()) this.place(point);
    });
  }

  place({ slice, x, y }) {
    // An unrated mark that was never saved is replaced, not kept as a second "?".
    for (const mark of this.unrated) this.marks.delete(mark.client_id);
    const mark = { client_id: uuid4(), slice, x, y, rating: null, label: "" };
    this.marks.set(mark.client_id, mark);
    this.select(mark.client_id);
  }

  rate(clientId, rating) {
    const mark = this.marks.get(clientId);
    if (!mark || !this.editable || !this.scale.some((point) => point.value === rating)) return;
    const isNew = mark.rating === null;
    mark.rating = rating;
    if (isNew) this.onFirstMark();
    this.onSave(mark);
    this.refresh();
  }

  remove(clientId) {
    const mark = this.marks.get(clientId);
    if (!mark || !this.editable) return;
    this.marks.delete(clientId);
    if (mark.rating !== null) this.onDelete(mark);
    if (this.selected === clientId) this.selected = null;
    this.refresh();
  }

  select(clientId) {
    this.selected = clientId;
    this.refresh();
  }

  /** Select the next mark in the list (wrapping); returns false when there are none. */
  selectNext() {
    const ids = [...this.marks.keys()];
    if (!ids.length) return false;
    const at = ids.indexOf(this.selected);
    this.select(ids[(at + 1) % ids.length]);
    return true;
  }

  /** Number key on a selected mark: set its confidence. Returns whether it was used. */
  rateSelected(rating) {
    if (!this.selected || !this.marks.has(this.selected)) return false;
    this.rate(this.selected, rating);
    return true;
  }

  async goTo(clientId) {
    const mark = this.marks.get(clientId);
    if (!mark) return;
    if (this.viewer.plane !== "acquired") await this.viewer.setPlane("acquired");
    await this.viewer.scrollTo(mark.slice);
    this.select(clientId);
  }

  startDrag(event, clientId) {
    event.preventDefault();
    event.stopPropagation();
    this.select(clientId);
    if (!this.editable || this.viewer.plane !== "acquired") return;
    const mark = this.marks.get(clientId);
    this.drag = { clientId, startX: event.clientX, startY: event.clientY, from: { x: mark.x, y: mark.y }, moved: false };
    const rect = this.viewer.element.getBoundingClientRect();
    const move = (e) => {
      if (Math.hypot(e.clientX - this.drag.startX, e.clientY - this.drag.startY) <= CLICK_TOLERANCE_PX) return;
      const point = this.viewer.canvasToImage(e.clientX - rect.left, e.clientY - rect.top);
      if (point && point.slice === mark.slice) {
        mark.x = point.x;
        mark.y = point.y;
        this.drag.moved = true;
        this.draw();
      }
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      if (this.drag.moved && mark.rating !== null) this.onSave(mark);
      this.drag = null;
      this.refresh();
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  // ---- drawing ------------------------------------------------------------------------

  refresh() {
    this.draw();
    this.renderList();
  }

  /** Draw the marks near the current view plane over the image. */
  draw() {
    this.overlay.draw();
  }

  /** The marks as the overlay draws them (overlay.js), numbered as in the list. */
  annotations() {
    return [...this.marks.values()].map((mark, i) => ({
      id: mark.client_id,
      className: "mark",
      offPlaneClass: "nearby",
      selected: mark.client_id === this.selected,
      points: [this.viewer.imageToWorld(mark.slice, mark.x, mark.y)],
      shape: "circle",
      radius: MARK_RADIUS_PX,
      label: `${i + 1} · ${mark.rating ?? "?"}`,
      labelOffset: [15, -10],
      onPointerDown: (event) => this.startDrag(event, mark.client_id),
    }));
  }

  renderList() {
    if (!this.list) return;
    const rows = [];
    let number = 0;
    for (const mark of this.marks.values()) {
      number += 1;
      const row = this.rowTemplate.content.firstElementChild.cloneNode(true);
      row.dataset.clientId = mark.client_id;
      row.classList.toggle("selected", mark.client_id === this.selected);
      const go = row.querySelector(".mark-go");
      const where = this.viewer.single ? "" : ` · slice ${mark.slice + 1}`;
      go.textContent = `Mark ${number}${where}${mark.rating === null ? " · choose a confidence" : ""}`;
      go.addEventListener("click", () => this.goTo(mark.client_id));
      for (const button of row.querySelectorAll("[data-rating]")) {
        const value = Number(button.dataset.rating);
        button.setAttribute("aria-checked", String(mark.rating === value));
        button.disabled = !this.editable;
        button.addEventListener("click", () => this.rate(mark.client_id, value));
      }
      const remove = row.querySelector(".mark-delete");
      remove.disabled = !this.editable;
      remove.addEventListener("click", () => this.remove(mark.client_id));
      rows.push(row);
    }
    this.list.replaceChildren(...rows);
    if (this.countLabel) this.countLabel.textContent = String(this.marks.size);
  }
}
