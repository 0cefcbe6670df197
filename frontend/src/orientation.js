// Orientation labels: the patient direction at the middle of each edge of a viewer's image
// ("R" on the left, "L" on the right, "A" at the top, "P" at the bottom of an axial slice in
// the radiological convention), as text elements over the viewport so that readers, tests and
// assistive tools can read them.
//
// The directions come from the camera: the canvas's right and up directions in patient
// coordinates (DICOM LPS: +x is the patient's left, +y posterior, +z superior), taken from the
// viewport's canvas-to-world mapping, so they follow the plane (acquired, coronal, sagittal),
// any rotation or flip of the camera, and its reset. The label of the right edge names
// viewRight, the left edge −viewRight, the top edge viewUp, the bottom edge −viewUp.
//
// An oblique direction gets up to three letters, the largest component first (e.g. "LP" for a
// row direction 30° from the patient's left towards posterior), a common convention of
// viewers. Components smaller than ORIENTATION_MIN_COMPONENT (0.25, i.e. a tilt under about
// 14.5° towards that axis) are left out, so a slightly tilted slice still reads "L".
//
// A projection image (a radiograph) has no patient geometry: it is shown in its own image
// plane (x along the rows, y down the columns; imaging.blinding.image_plane_set). Its labels
// come from the header's Patient Orientation (0020,0020), the patient directions of the row and
// the column (e.g. ["R", "F"]), mapped through the same camera directions; without it there
// are no labels.
//
// Usage (one per viewer; the comparative page attaches one to each of its viewers):
//   new OrientationLabels({ viewer, container, projection, patientOrientation })
// where `container` is the positioned element over the viewport (the stage) the four labels
// are put in, `projection` says whether the series is a projection image (config.projection)
// and `patientOrientation` is its header's (0020,0020) value (the first instance's metadata).

/** Components of a direction below this (absolute value) are not named. */
export const ORIENTATION_MIN_COMPONENT = 0.25;

const EDGES = ["left", "right", "top", "bottom"];
const EDGE_NAMES = { left: "Left", right: "Right", top: "Top", bottom: "Bottom" };
/** The letters of +x, +y, +z and of −x, −y, −z in LPS. */
const POSITIVE = ["L", "P", "S"];
const NEGATIVE = ["R", "A", "I"];
const WORDS = { L: "left", R: "right", P: "posterior", A: "anterior", S: "superior", I: "inferior" };
/** Patient Orientation codes (PS3.3 C.7.6.1.1.1): H(ead) and F(eet) are S and I here. */
const CODE_AXES = { L: [1, 0, 0], R: [-1, 0, 0], P: [0, 1, 0], A: [0, -1, 0], H: [0, 0, 1], F: [0, 0, -1], S: [0, 0, 1], I: [0, 0, -1] };

function normalise(v) {
  const length = Math.hypot(...v);
  return length > 0 ? v.map((c) => c / length) : null;
}

/**
 * The letters of a direction in LPS: up to three, the largest component first; components
 * below `threshold` are left out ("" when none is left).
 * @param {number[]} direction
 * @param {number} [threshold]
 */
export function directionLetters(direction, threshold = ORIENTATION_MIN_COMPONENT) {
  const unit = normalise(direction);
  if (!unit) return "";
  return unit
    .map((c, axis) => ({ c, axis }))
    .filter(({ c }) => Math.abs(c) >= threshold)
    .sort((a, b) => Math.abs(b.c) - Math.abs(a.c))
    .map(({ c, axis }) => (c > 0 ? POSITIVE : NEGATIVE)[axis])
    .join("");
}

/** The direction (LPS) of a Patient Orientation code string (e.g. "A", "FR"), or null. */
export function codeDirection(code) {
  const letters = String(code || "").toUpperCase().split("");
  if (!letters.length || !letters.every((l) => l in CODE_AXES)) return null;
  const sum = [0, 0, 0];
  for (const l of letters) for (let i = 0; i < 3; i++) sum[i] += CODE_AXES[l][i];
  return normalise(sum);
}

/**
 * The four labels {left, right, top, bottom} for a view whose canvas right and up are
 * `right` and `up` (unit vectors in the viewer's world).
 * @param {number[]} right
 * @param {number[]} up
 * @param {number[][] | null} [imageAxes]  for a projection image: the patient directions of
 *   the world's x (the rows) and y (the columns); world directions are mapped through them
 */
export function edgeLabels(right, up, imageAxes = null) {
  const toPatient = (v) =>
    imageAxes ? [0, 1, 2].map((i) => v[0] * imageAxes[0][i] + v[1] * imageAxes[1][i]) : v;
  const r = toPatient(right);
  const u = toPatient(up);
  const neg = (v) => v.map((c) => -c);
  return {
    left: directionLetters(neg(r)),
    right: directionLetters(r),
    top: directionLetters(u),
    bottom: directionLetters(neg(u)),
  };
}

export class OrientationLabels {
  /**
   * @param {object} options
   * @param {import("./viewer.js").Viewer} options.viewer
   * @param {HTMLElement} options.container  positioned element over the viewport
   * @param {boolean} [options.projection]  a projection image (shown in its own image plane)
   * @param {string[] | null} [options.patientOrientation]  a projection image's Patient
   *   Orientation (0020,0020): the directions of its rows and columns
   */
  constructor({ viewer, container, projection = false, patientOrientation = null }) {
    this.viewer = viewer;
    this.projection = Boolean(projection);
    this.labels = {};
    for (const edge of EDGES) {
      const label = document.createElement("div");
      label.className = "ws-orientation";
      label.dataset.edge = edge;
      label.hidden = true;
      container.append(label);
      this.labels[edge] = label;
    }
    const axes = (patientOrientation || []).map(codeDirection);
    this.imageAxes = axes.length === 2 && axes.every(Boolean) ? axes : null;
    // Every render follows a change of plane, slice, camera (zoom, pan, rotation, flip) or reset.
    viewer.addEventListener("rendered", () => this.update());
  }

  /** The view's canvas right and up directions in world coordinates, or null before an image. */
  viewDirections() {
    const viewport = this.viewer.engine && this.viewer.viewport;
    if (!viewport || !viewport.element?.clientWidth) return null;
    const { clientWidth: w, clientHeight: h } = viewport.element;
    const centre = viewport.canvasToWorld([w / 2, h / 2]);
    const right = viewport.canvasToWorld([w / 2 + 1, h / 2]);
    const below = viewport.canvasToWorld([w / 2, h / 2 + 1]);
    const r = normalise(right.map((c, i) => c - centre[i]));
    const u = normalise(centre.map((c, i) => c - below[i]));
    return r && u ? { right: r, up: u } : null;
  }

  /** The labels now shown ({left, right, top, bottom}; "" where none). */
  get text() {
    return Object.fromEntries(EDGES.map((edge) => [edge, this.labels[edge].textContent]));
  }

  update() {
    const directions = this.viewDirections();
    const projection = this.projection;
    const labels =
      directions && (!projection || this.imageAxes)
        ? edgeLabels(directions.right, directions.up, projection ? this.imageAxes : null)
        : null;
    for (const edge of EDGES) {
      const text = labels ? labels[edge] : "";
      const label = this.labels[edge];
      if (label.textContent !== text) label.textContent = text;
      label.hidden = !text;
      const words = text
        .split("")
        .map((l) => WORDS[l])
        .join(" ");
      label.setAttribute("aria-label", text ? `${EDGE_NAMES[edge]} edge: patient ${words}` : "");
      label.title = text ? `Patient ${words}` : "";
    }
  }
}
