// The reader's ruler: two clicks on one slice draw a line with its length in millimetres
// (patient space; on a radiograph the image plane's own millimetres, at the pixel spacing the
// server gave the image). It measures on the acquired plane (clicks on the image, mapped with
// viewer.imageToWorld) and on the coronal and sagittal reformats (the clicked canvas points
// in patient space, viewport.canvasToWorld; both on the slice shown). A ruler is a look, not
// a result: it is drawn over the image until the next one (or until the ruler is switched
// off) and never saved.
//
// While the ruler is on, clicks on the image measure instead of placing marks.

import { AnnotationLayer } from "./overlay.js";
import { onViewClick } from "./pointer.js";

function distance(a, b) {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

export class Ruler extends EventTarget {
  /**
   * @param {object} options
   * @param {import("./viewer.js").Viewer} options.viewer
   * @param {SVGSVGElement} options.svg     its own overlay over the viewport
   * @param {HTMLElement} [options.button]  the toolbar button that shows whether it is on
   */
  constructor({ viewer, svg, button }) {
    super();
    Object.assign(this, { viewer, svg, button });
    this.active = false;
    this.start = null; // the first click {view, world}
    this.line = null; // the last measurement {from, to, mm}
    this.overlay = new AnnotationLayer({ viewer, svg, annotations: () => this.annotations() });
    onViewClick(viewer, ({ x, y }) => {
      if (!this.active) return;
      const point = this.pointAt(x, y);
      if (point) this.click(point);
    });
  }

  /**
   * The clicked point: the slice it is on ("acquired:12", "coronal:40") and its patient
   * position (mm); null off the image of the acquired plane.
   */
  pointAt(x, y) {
    const viewer = this.viewer;
    if (viewer.plane === "acquired") {
      const point = viewer.canvasToImage(x, y);
      if (!point) return null;
      return { view: `acquired:${point.slice}`, world: viewer.imageToWorld(point.slice, point.x, point.y) };
    }
    return { view: `${viewer.plane}:${viewer.sliceIndex()}`, world: [...viewer.viewport.canvasToWorld([x, y])] };
  }

  /** Switch the ruler on or off (off clears what it drew). */
  toggle(on = !this.active) {
    this.active = on;
    this.start = null;
    if (!on) this.line = null;
    this.button?.setAttribute("aria-pressed", String(on));
    this.overlay.draw();
  }

  click(point) {
    if (!this.start || this.start.view !== point.view) {
      this.start = point;
      this.line = null;
      this.overlay.draw();
      return;
    }
    const from = this.start.world;
    const to = point.world;
    this.line = { from, to, mm: distance(from, to) };
    this.start = null;
    this.overlay.draw();
    this.dispatchEvent(new CustomEvent("measured", { detail: { mm: this.line.mm } }));
  }

  /** The length of the last line, mm (null before one is drawn). */
  get length() {
    return this.line ? this.line.mm : null;
  }

  *annotations() {
    if (this.start) yield { marker: true, className: "measure-start", point: this.start.world };
    if (this.line) {
      yield {
        className: "ruler",
        offPlaneClass: "nearby",
        points: [this.line.from, this.line.to],
        shape: "line",
        label: `${this.line.mm.toFixed(1)} mm`,
        labelOffset: [8, -8],
      };
    }
  }
}
