// The measuring page (templates/readerstudy/measurement_case.html): every condition of one case
// side by side, one Cornerstone viewport each (the workstation's viewer.js, loaded with
// import()), for objective image-quality measurements by coordinators (unblinded: the
// condition labels are shown).
//
// Slices are synchronised by patient position: scrolling one viewport scrolls the others to
// their slice nearest to it. Tools: a line ROI (click both ends) and a circle ROI (click the
// centre, then a point on its edge). An ROI is sent in patient coordinates (mm, the viewer's
// imageToWorld of the clicks), so it is drawn at the same patient position on every
// viewport, as ImageJ's "Sync Windows" does; the server stores it, measures it on every
// condition's stored pixels and answers with the case's state, which the table beside shows.
//
// The configuration is the JSON in #measure-config (views.measurements.measurement_case).
// Changes go through the workstation's SaveQueue (retried, kept in localStorage, idempotent by
// client id); once the queue is idle the page reloads the state from the server.

import { uuid4 } from "./ids.js";
import { isFormField, listenForKeys } from "./keymap.js";
import { AnnotationLayer, svgElement } from "./overlay.js";
import {
  $,
  $$,
  createSaveQueue,
  csrfToken,
  exposeTestHook,
  fetchJson,
  fetchJsonIfOk,
  readConfig,
  runPage,
  seriesUrlOf,
  showMessage,
  showViewerReadouts,
  staticBase,
} from "./page.js";
import { onImageClick } from "./pointer.js";

const METRICS = {
  line: [
    ["fwhm_mm", "FWHM (mm)", 2],
    ["edge_rise_distance_mm", "Edge rise distance (mm)", 2],
    ["edge_rise_slope", "Edge rise slope (/mm)", 1],
  ],
  circle: [
    ["mean", "Mean", 1],
    ["sd", "SD", 2],
    ["snr", "SNR", 2],
  ],
};

const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const norm = (a) => Math.hypot(a[0], a[1], a[2]);
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const unit = (a) => {
  const n = norm(a) || 1;
  return [a[0] / n, a[1] / n, a[2] / n];
};

function formatNumber(value, digits) {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  return Math.abs(value) >= 1e4 ? value.toExponential(3) : value.toFixed(digits);
}

/** One viewport: a condition's series in its own viewer, with its ROI layer and slider. */
class Panel {
  constructor(page, index, config, cell) {
    Object.assign(this, { page, index, config, cell });
    this.viewer = null;
    this.overlay = null; // the ROI layer (overlay.js), once the viewer exists
    this.svg = $(".measure-layer", cell);
    this.slider = $(".measure-slider", cell);
    this.syncTarget = null; // the slice a synchronised scroll is taking this viewer to
    this.offsets = null; // slice -> position along this series' normal (mm)
  }

  /** The series' in-plane unit directions and normal, from its first slice's geometry. */
  get axes() {
    if (!this._axes) {
      const origin = this.viewer.imageToWorld(0, 0, 0);
      const row = unit(sub(this.viewer.imageToWorld(0, 1, 0), origin));
      const column = unit(sub(this.viewer.imageToWorld(0, 0, 1), origin));
      this._axes = { row, column, normal: unit(cross(row, column)) };
    }
    return this._axes;
  }

  /** The slice of this series nearest to a patient point (along the series' normal). */
  nearestSlice(world) {
    const { normal } = this.axes;
    if (!this.offsets) {
      this.offsets = this.viewer.imageIds.map((_, k) => dot(this.viewer.imageToWorld(k, 0, 0), normal));
    }
    const target = dot(world, normal);
    let best = 0;
    for (let k = 1; k < this.offsets.length; k += 1) {
      if (Math.abs(this.offsets[k] - target) < Math.abs(this.offsets[best] - target)) best = k;
    }
    return best;
  }

  /** Scroll to `index` because another viewport moved (its own event is then not passed on). */
  follow(index) {
    if (index === this.viewer.sliceIndex()) return;
    this.syncTarget = index;
    this.viewer.scrollTo(index);
  }

  draw() {
    this.overlay?.draw();
  }

  /** The case's ROIs as the overlay draws them (overlay.js), then the first click of one being drawn. */
  *annotations() {
    const viewer = this.viewer;
    for (const roi of this.page.state.rois) {
      const annotation = {
        id: roi.client_id,
        className: `roi ${roi.kind}`,
        offPlaneClass: "off-plane",
        selected: roi.client_id === this.page.selected,
        points: roi.points_mm,
        label: roi.name || "…",
        labelOffset: [6, -6],
      };
      if (roi.kind === "line") {
        yield { ...annotation, shape: "line" };
      } else {
        const { row } = this.axes;
        const centre = roi.points_mm[0];
        const radius = roi.radius_mm || norm(sub(roi.points_mm[1], centre));
        const rim = [centre[0] + row[0] * radius, centre[1] + row[1] * radius, centre[2] + row[2] * radius];
        yield { ...annotation, shape: "circle", rim, minRadius: 2 };
      }
    }
    const pending = this.page.pending;
    if (pending && pending.panel === this && viewer.sliceIndex() === pending.slice) {
      yield { marker: true, className: "pending", point: pending.world };
    }
  }
}

class MeasurePage {
  constructor(config) {
    this.config = config;
    this.state = { rois: [], cnrs: [] };
    this.panels = [];
    this.tool = "navigate";
    this.pending = null; // the first click of an ROI being drawn
    this.selected = null;
    this.ready = false; // viewports follow each other only once all have started
    this.queue = createSaveQueue({
      storageKey: `readerstudy:unsaved-measurements:${config.api.state}`,
      csrfToken: csrfToken(),
      onState: (state) => {
        if (state === "saved" || state === "error") this.reload();
      },
    });
  }

  // ---- state from the server ---------------------------------------------------------------

  async reload() {
    if (!this.queue.idle) return;
    const state = await fetchJsonIfOk(this.config.api.state);
    if (!state) return;
    if (!this.queue.idle) return; // a newer change is on its way; its answer comes next
    this.setState(state);
  }

  setState(state) {
    this.state = state;
    if (this.selected && !state.rois.some((roi) => roi.client_id === this.selected)) this.selected = null;
    this.render();
  }

  render() {
    for (const panel of this.panels) panel.draw();
    this.renderTable();
    this.renderCnrForm();
  }

  // ---- drawing ROIs ---------------------------------------------------------------------------

  setTool(tool) {
    this.tool = tool;
    this.pending = null;
    for (const button of $$("[data-tool]")) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
    }
    const hints = {
      navigate: "",
      line: "Line: click one end.",
      circle: "Circle: click the centre.",
    };
    $("#tool-hint").textContent = hints[tool];
    for (const panel of this.panels) panel.draw();
  }

  click(panel, point) {
    if (!this.config.editable || this.tool === "navigate") return;
    const world = panel.viewer.imageToWorld(point.slice, point.x, point.y);
    const first = this.pending;
    if (!first || first.panel !== panel || first.slice !== point.slice) {
      this.pending = { panel, slice: point.slice, world };
      $("#tool-hint").textContent = this.tool === "line" ? "Line: click the other end." : "Circle: click its edge.";
      panel.draw();
      return;
    }
    this.pending = null;
    if (norm(sub(world, first.world)) < 1e-3) {
      $("#tool-hint").textContent = "The two clicks are the same point; click again.";
      panel.draw();
      return;
    }
    const roi = {
      client_id: uuid4(),
      kind: this.tool,
      label: $("#roi-label").value.trim(),
      points_mm: [first.world, world],
      radius_mm: this.tool === "circle" ? norm(sub(world, first.world)) : null,
      drawn_on: panel.config.series,
      drawn_slice: point.slice,
      values: {},
    };
    roi.name = roi.label || "…";
    this.state.rois.push(roi); // shown at once on every viewport; the server's answer replaces it
    this.selected = roi.client_id;
    this.save(roi);
    this.setTool(this.tool); // ready for the next ROI of the same kind
    this.render();
  }

  save(roi) {
    this.queue.put(`roi:${roi.client_id}`, "PUT", `${this.config.api.rois}${roi.client_id}`, {
      kind: roi.kind,
      series: roi.drawn_on,
      slice: roi.drawn_slice,
      points_mm: roi.points_mm,
      label: roi.label || "",
    });
  }

  remove(clientId) {
    this.state.rois = this.state.rois.filter((roi) => roi.client_id !== clientId);
    this.state.cnrs = this.state.cnrs.filter((cnr) => cnr.a !== clientId && cnr.b !== clientId);
    this.queue.put(`roi:${clientId}`, "DELETE", `${this.config.api.rois}${clientId}`);
    if (this.selected === clientId) this.selected = null;
    this.render();
  }

  relabel(clientId, label) {
    const roi = this.state.rois.find((r) => r.client_id === clientId);
    if (!roi || !roi.drawn_on) return;
    roi.label = label.trim();
    this.save(roi);
  }

  /** Show the ROI on every viewport: each scrolls to its slice nearest to the ROI. */
  goTo(clientId) {
    const roi = this.state.rois.find((r) => r.client_id === clientId);
    if (!roi) return;
    this.selected = clientId;
    for (const panel of this.panels) {
      if (panel.viewer) panel.follow(panel.nearestSlice(roi.points_mm[0]));
    }
    this.render();
  }

  // ---- the table ------------------------------------------------------------------------------

  valueCell(value, metric, digits) {
    const cell = document.createElement("td");
    if (!value) {
      cell.className = "na";
      cell.textContent = "…";
      return cell;
    }
    const text = formatNumber(value[metric], digits);
    if (text === null) {
      cell.className = "na";
      cell.textContent = "—";
      cell.title = value.error || value.notes?.[metric] || "Not measured.";
    } else {
      cell.className = "num";
      cell.textContent = text;
      if (value.slice !== null && value.slice !== undefined) {
        cell.title = `slice ${value.slice + 1}, ${value.plane_distance_mm?.toFixed(2)} mm from the ROI`;
      }
    }
    return cell;
  }

  profileCell(value) {
    const cell = document.createElement("td");
    const profile = value?.profile;
    if (!profile || !profile.values || profile.values.length < 2) return cell;
    const svg = svgElement("svg", { class: "profile", viewBox: "0 0 100 30", preserveAspectRatio: "none" });
    const lo = Math.min(...profile.values);
    const hi = Math.max(...profile.values);
    const last = profile.mm[profile.mm.length - 1] || 1;
    const points = profile.values.map(
      (v, i) => `${((profile.mm[i] / last) * 100).toFixed(2)},${(28 - ((v - lo) / (hi - lo || 1)) * 26).toFixed(2)}`,
    );
    svg.append(svgElement("polyline", { points: points.join(" ") }));
    cell.append(svg);
    cell.title = `Intensity profile over ${last.toFixed(1)} mm`;
    return cell;
  }

  renderTable() {
    const panels = this.panels;
    const table = document.createElement("table");
    table.className = "roi-values";
    const head = document.createElement("tr");
    head.append(document.createElement("th"));
    for (const panel of panels) {
      const th = document.createElement("th");
      th.textContent = panel.config.condition;
      th.dataset.series = panel.config.series;
      head.append(th);
    }
    const thead = document.createElement("thead");
    thead.append(head);
    const body = document.createElement("tbody");
    const columns = panels.length + 1;
    for (const roi of this.state.rois) {
      const title = document.createElement("tr");
      title.className = "roi-head";
      title.dataset.roi = roi.client_id;
      title.classList.toggle("selected", roi.client_id === this.selected);
      const cell = document.createElement("td");
      cell.colSpan = columns;
      const go = document.createElement("button");
      go.type = "button";
      go.className = "roi-go";
      go.textContent = `${roi.name} · ${roi.kind}`;
      go.title = "Show this ROI on every viewport";
      go.addEventListener("click", () => this.goTo(roi.client_id));
      cell.append(go);
      if (this.config.editable) {
        const label = document.createElement("input");
        label.type = "text";
        label.className = "roi-name";
        label.maxLength = 100;
        label.placeholder = "label";
        label.value = roi.label || "";
        label.setAttribute("aria-label", `Label of ${roi.name}`);
        label.addEventListener("change", () => this.relabel(roi.client_id, label.value));
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "roi-delete";
        remove.textContent = "✕";
        remove.title = "Delete this ROI (and its CNRs)";
        remove.setAttribute("aria-label", `Delete ${roi.name}`);
        remove.addEventListener("click", () => this.remove(roi.client_id));
        const tools = document.createElement("div");
        tools.style.display = "flex";
        tools.style.gap = ".3rem";
        tools.append(label, remove);
        cell.append(tools);
      }
      title.append(cell);
      body.append(title);
      for (const [metric, name, digits] of METRICS[roi.kind] || []) {
        const row = document.createElement("tr");
        row.className = "roi-value";
        row.dataset.roi = roi.client_id;
        row.dataset.metric = metric;
        const th = document.createElement("th");
        th.textContent = name;
        row.append(th);
        for (const panel of panels) {
          const value = roi.values[panel.config.series];
          const td = this.valueCell(value, metric, digits);
          td.dataset.series = panel.config.series;
          row.append(td);
        }
        body.append(row);
      }
      if (roi.kind === "line") {
        const row = document.createElement("tr");
        row.className = "roi-profile";
        const th = document.createElement("th");
        th.textContent = "Profile";
        row.append(th);
        for (const panel of panels) row.append(this.profileCell(roi.values[panel.config.series]));
        body.append(row);
      }
    }
    for (const cnr of this.state.cnrs) {
      const title = document.createElement("tr");
      title.className = "roi-head";
      const cell = document.createElement("td");
      cell.colSpan = columns;
      cell.textContent = `${cnr.name} · CNR`;
      if (this.config.editable) {
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "roi-delete";
        remove.textContent = "✕";
        remove.title = "Delete this CNR";
        remove.addEventListener("click", () => {
          this.state.cnrs = this.state.cnrs.filter((c) => c.client_id !== cnr.client_id);
          this.queue.put(`cnr:${cnr.client_id}`, "DELETE", `${this.config.api.cnrs}${cnr.client_id}`);
          this.render();
        });
        cell.append(" ", remove);
      }
      title.append(cell);
      body.append(title);
      const row = document.createElement("tr");
      row.className = "roi-value";
      row.dataset.cnr = cnr.client_id;
      row.dataset.metric = "cnr";
      const th = document.createElement("th");
      th.textContent = "CNR";
      row.append(th);
      for (const panel of panels) {
        const value = cnr.values[panel.config.series];
        const td = this.valueCell(value && { ...value, cnr: value.value }, "cnr", 2);
        td.dataset.series = panel.config.series;
        row.append(td);
      }
      body.append(row);
    }
    table.append(thead, body);
    $("#roi-table").replaceChildren(this.state.rois.length || this.state.cnrs.length ? table : "");
    $("#roi-count").textContent = String(this.state.rois.length);
  }

  renderCnrForm() {
    const form = $("#cnr-form");
    if (!form) return;
    const circles = this.state.rois.filter((roi) => roi.kind === "circle" && roi.number);
    for (const select of [$("#cnr-a"), $("#cnr-b")]) {
      const chosen = select.value;
      select.replaceChildren(
        ...circles.map((roi) => {
          const option = document.createElement("option");
          option.value = roi.client_id;
          option.textContent = roi.name;
          return option;
        }),
      );
      if (circles.some((roi) => roi.client_id === chosen)) select.value = chosen;
    }
    if (circles.length > 1 && $("#cnr-a").value === $("#cnr-b").value) $("#cnr-b").selectedIndex = 1;
    $("#cnr-add").disabled = circles.length < 2;
  }

  addCnr() {
    const a = $("#cnr-a").value;
    const b = $("#cnr-b").value;
    if (!a || !b || a === b) {
      showMessage("Choose two different circles for a CNR.");
      return;
    }
    const id = uuid4();
    const label = $("#cnr-label").value.trim();
    this.state.cnrs.push({ client_id: id, a, b, label, name: label || "…", values: {} });
    this.queue.put(`cnr:${id}`, "PUT", `${this.config.api.cnrs}${id}`, { a, b, label });
    $("#cnr-label").value = "";
    this.render();
  }

  // ---- viewers -------------------------------------------------------------------------------

  async start() {
    const cells = $$(".measure-cell");
    this.panels = this.config.viewports.map((viewport, index) => new Panel(this, index, viewport, cells[index]));
    const { Viewer } = await import(this.config.viewerScript);
    await Promise.all(this.panels.map((panel) => this.startPanel(panel, Viewer)));
    this.ready = true;
    const state = await fetchJsonIfOk(this.config.api.state);
    if (state) this.setState(state);
    // Changes a previous visit left unsent are shown until the server has them.
    for (const change of this.queue.restoredChanges()) {
      if (change.key.startsWith("roi:") && change.method === "PUT") {
        const id = change.key.slice(4);
        if (!this.state.rois.some((roi) => roi.client_id === id)) {
          this.state.rois.push({
            client_id: id,
            name: change.body.label || "…",
            kind: change.body.kind,
            label: change.body.label,
            points_mm: change.body.points_mm,
            drawn_on: change.body.series,
            drawn_slice: change.body.slice,
            values: {},
          });
        }
      }
    }
    this.queue.kick();
    this.render();
  }

  async startPanel(panel, Viewer) {
    const viewport = panel.config;
    const seriesUrl = seriesUrlOf(viewport);
    const metadata = await fetchJson(`${seriesUrl}/metadata`, viewport.condition);
    if (!metadata.length) throw new Error(`${viewport.condition}: the series has no images.`);
    const element = $(".measure-viewport", panel.cell);
    // One engine per viewer, each with one WebGL context (see viewer.js, initCornerstone).
    const viewer = new Viewer(element, { ...viewport, viewerId: `m${panel.index}`, webGlContextsPerEngine: 1 }, staticBase);
    panel.viewer = viewer;
    panel.overlay = new AnnotationLayer({ viewer, svg: panel.svg, annotations: () => panel.annotations() });
    showViewerReadouts(viewer, {
      slider: panel.slider,
      slice: $(".overlay-slice", panel.cell),
      window: $(".overlay-window", panel.cell),
      position: $(".overlay-position", panel.cell),
    });
    viewer.addEventListener("slice", ({ detail }) => {
      requestAnimationFrame(() => panel.draw()); // the ROIs of the new slice (also if no render follows)
      if (panel.syncTarget !== null) {
        const reached = panel.syncTarget === detail.index;
        panel.syncTarget = null;
        if (reached) return; // moved by another viewport: do not pass it on
      }
      if (this.pending && this.pending.panel === panel && this.pending.slice !== detail.index) this.pending = null;
      this.syncFrom(panel);
    });
    if (this.config.editable) onImageClick(viewer, (point) => this.click(panel, point));
    await viewer.start(seriesUrl, metadata);
  }

  /** Zoom, pan and window of every viewport back to how its series first appeared. */
  resetViews() {
    for (const panel of this.panels) panel.viewer?.reset();
  }

  /** Scroll every other viewport to its slice nearest to the one `source` shows. */
  syncFrom(source) {
    if (!this.ready) return;
    const index = source.viewer.sliceIndex();
    const world = source.viewer.imageToWorld(index, 0, 0);
    for (const panel of this.panels) {
      if (panel === source || !panel.viewer?.engine || !panel.viewer.viewport) continue;
      panel.follow(panel.nearestSlice(world));
    }
  }
}

/** The page's keyboard shortcuts (keymap.js). */
function measureKeymap(page, editable) {
  return [
    {
      id: "line-tool",
      keys: ["l"],
      description: "Line ROI",
      run: () => {
        if (editable) page.setTool("line");
      },
    },
    {
      id: "circle-tool",
      keys: ["o"],
      description: "Circle ROI",
      run: () => {
        if (editable) page.setTool("circle");
      },
    },
    { id: "navigate", keys: ["Escape"], description: "Navigate: clicks draw nothing", run: () => page.setTool("navigate") },
    { id: "reset-view", keys: ["r"], description: "Reset every viewport", run: () => page.resetViews() },
    {
      id: "delete-roi",
      keys: ["Delete"],
      description: "Delete the selected ROI",
      run: () => {
        if (editable && page.selected) page.remove(page.selected);
      },
    },
  ];
}

function main() {
  const config = readConfig("measure-config");
  const page = new MeasurePage(config);
  exposeTestHook("measurePage", {
    panels: () => page.panels.map((panel) => Object.freeze({ viewer: panel.viewer })),
  });
  for (const button of $$("[data-tool]")) {
    button.addEventListener("click", () => page.setTool(button.dataset.tool));
  }
  $("#reset-view").addEventListener("click", () => page.resetViews());
  $("#cnr-form")?.addEventListener("submit", (event) => {
    event.preventDefault();
    page.addCnr();
  });
  window.addEventListener("pagehide", () => page.queue.sendBeforeUnload());
  listenForKeys(measureKeymap(page, config.editable), { ignore: isFormField });
  runPage("measure", page.start());
}

main();
