// The lesions a question is about (a lesion-targeted question, e.g. "visibility of the
// median-sized lesion"): a dashed circle over each chosen lesion's centre and a "Show the
// lesion" button per question that scrolls to its slice. Only the chosen lesions are in the
// page's config; nothing else of the reference reaches the reader.

import { AnnotationLayer } from "./overlay.js";

const TARGET_RADIUS_PX = 18;

export class LesionTargets {
  /**
   * @param {object} options
   * @param {import("./viewer.js").Viewer} options.viewer
   * @param {SVGSVGElement} options.svg  its own overlay (a layer redraws all of its svg)
   * @param {Array<{item: string, slice: number, point: number[], label: string}>} options.targets
   * @param {Iterable<HTMLButtonElement>} options.buttons  the "Show the lesion" buttons (data-item)
   */
  constructor({ viewer, svg, targets, buttons }) {
    Object.assign(this, { viewer, targets });
    this.overlay = new AnnotationLayer({ viewer, svg, annotations: () => this.annotations() });
    for (const button of buttons) {
      button.addEventListener("click", () => this.show(button.dataset.item));
    }
  }

  annotations() {
    return this.targets.map((target) => ({
      className: "lesion-target",
      offPlaneClass: "nearby",
      points: [target.point],
      shape: "circle",
      radius: TARGET_RADIUS_PX,
      label: target.label,
      labelOffset: [TARGET_RADIUS_PX + 4, 4],
    }));
  }

  /** Scroll the acquired plane to the slice of the lesion of question item `item`. */
  async show(item) {
    const target = this.targets.find((t) => t.item === item);
    if (!target) return;
    if (this.viewer.plane !== "acquired") await this.viewer.setPlane("acquired");
    await this.viewer.scrollTo(target.slice);
    this.overlay.draw();
  }

  draw() {
    this.overlay.draw();
  }
}
