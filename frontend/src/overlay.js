// The annotation layer over a viewer: an <svg> over the viewport on which lesion marks
// (marks.js), reference lesions (lesions.js) and measurement ROIs (measure.js) are drawn.
//
// A feature describes its annotations (`annotations()`, from its own state) and the layer
// draws them: each time it is asked to (`draw()`, after a change) and each time the viewer
// renders (a new slice, zoom, pan, a reformat). An annotation that is gone from the list is
// gone from the image; the layer keeps nothing between draws.
//
// An annotation is placed by patient coordinates (mm) and drawn when it lies on the view
// plane, or dashed (its `offPlaneClass`) when it lies within a slice and a half of it:
//   {
//     id             its <g>'s data-client-id (optional)
//     className      the <g>'s classes ("mark", "mark lesion", "roi line")
//     offPlaneClass  the class added near, not on, the plane ("nearby", "off-plane")
//     selected       adds the class "selected"
//     points         patient points that must all lie near the plane; the first anchors it
//     shape          "circle" (centred on points[0]) or "line" (points[0] to points[1])
//     radius         a circle's radius (canvas px), or instead
//     rim            a patient point on the circle, with minRadius (px) the least radius drawn
//     label          its text, beside points[0] shifted by labelOffset [dx, dy] (px)
//     onPointerDown  (event) => …, for annotations that can be picked up
//   }
// A marker, { marker: true, className, point }, is a small dot (the first click of a two-click
// measurement), drawn whatever its distance from the plane: the feature decides when.

const SVG = "http://www.w3.org/2000/svg";
const MARKER_RADIUS_PX = 3;
const PLANE_TOLERANCE_MM = 1e-3;

/** An SVG element with attributes. */
export function svgElement(name, attributes = {}) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

export class AnnotationLayer {
  /**
   * @param {object} options
   * @param {import("./viewer.js").Viewer} options.viewer
   * @param {SVGSVGElement} options.svg       the overlay over the viewer's viewport
   * @param {() => Iterable<object>} options.annotations  what to draw, in order
   */
  constructor({ viewer, svg, annotations }) {
    Object.assign(this, { viewer, svg, annotations });
    viewer.addEventListener("rendered", () => this.draw());
  }

  /** Draw the annotations anew (nothing before the viewer shows an image). */
  draw() {
    this.svg.replaceChildren();
    if (!this.viewer.engine || !this.viewer.viewport) return;
    for (const annotation of this.annotations()) {
      const node = annotation.marker ? this.marker(annotation) : this.annotation(annotation);
      if (node) this.svg.append(node);
    }
  }

  marker({ className, point }) {
    const where = this.viewer.worldToCanvas(point);
    return svgElement("circle", { class: className, cx: where.x, cy: where.y, r: MARKER_RADIUS_PX });
  }

  annotation(a) {
    const where = a.points.map((point) => this.viewer.worldToCanvas(point));
    const distance = Math.max(...where.map((w) => w.distance));
    const spacing = where[0].spacing;
    const onPlane = distance <= spacing / 2 + PLANE_TOLERANCE_MM;
    const nearby = !onPlane && distance <= spacing * 1.5 + PLANE_TOLERANCE_MM;
    if (!onPlane && !nearby) return null;
    const group = svgElement("g");
    group.classList.add(...a.className.split(" "));
    if (nearby) group.classList.add(a.offPlaneClass);
    if (a.selected) group.classList.add("selected");
    if (a.id) group.dataset.clientId = a.id;
    const [anchor] = where;
    if (a.shape === "line") {
      group.append(svgElement("line", { x1: anchor.x, y1: anchor.y, x2: where[1].x, y2: where[1].y }));
    } else {
      group.append(svgElement("circle", { cx: anchor.x, cy: anchor.y, r: this.radius(a, anchor) }));
    }
    const [dx, dy] = a.labelOffset;
    const text = svgElement("text", { x: anchor.x + dx, y: anchor.y + dy });
    text.textContent = a.label;
    group.append(text);
    if (a.onPointerDown) group.addEventListener("pointerdown", a.onPointerDown);
    return group;
  }

  /** A circle's radius on the canvas: given, or out to its rim's point. */
  radius(a, centre) {
    if (!a.rim) return a.radius;
    const edge = this.viewer.worldToCanvas(a.rim);
    return Math.max(a.minRadius ?? 0, Math.hypot(edge.x - centre.x, edge.y - centre.y));
  }
}
