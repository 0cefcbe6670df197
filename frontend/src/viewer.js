// The image viewer: one Cornerstone3D viewport over the reading's series, loaded over
// DICOMweb (WADO-RS metadata and frames) from the reading's own, blinded DICOMweb root.
//
// Acquired plane: a stack viewport (slice = one stored instance). Coronal and sagittal
// reformats: an orthographic volume viewport over the same images (needs WebGL; without it
// the viewer renders the stack on the CPU and offers no reformats).
//
// The page script loads this module (its own bundle, viewer.js) with import(); the page has
// shown the first image already (an <img> of the server's PNG, or firstpaint.js) and has
// started fetching the pixel data in bulk (bulk.js), which this viewer's image loader takes
// frame by frame (frameloader.js). The volume (reformat) code is a separate chunk
// (reformat.js), loaded when a reformat is first asked for.
//
// Mouse: left-drag window/level, right-drag zoom (up zooms in), middle-drag pan, wheel scrolls slices.
//
// A series of one image (a radiograph: DX, CR, MG, or any single 2D image) is shown as that
// image: no slice scrolling, no reformats (`single`). Its geometry is the image plane the
// server gave it (imaging.blinding.image_plane_set), so image points are in image millimetres
// (x along the rows, y down the columns, z = 0) like every mark and ruler on it.

import {
  Enums,
  RenderingEngine,
  cache,
  imageLoader,
  init as coreInit,
  metaData,
  setUseCPURendering,
  utilities,
} from "@cornerstonejs/core";
import dicomImageLoader, { init as loaderInit } from "@cornerstonejs/dicom-image-loader";
import {
  Enums as ToolEnums,
  PanTool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  init as toolsInit,
} from "@cornerstonejs/tools";
import { BulkFrames } from "./bulk.js";
import { bulkSource, registerBulkLoader } from "./frameloader.js";

const ENGINE_ID = "workstation";
const VIEWPORT_ID = "main";
const TOOL_GROUP_ID = "workstation-tools";
const PREFETCH_CONCURRENCY = 6;

export const PLANES = {
  acquired: null,
  coronal: Enums.OrientationAxis.CORONAL,
  sagittal: Enums.OrientationAxis.SAGITTAL,
};

function hasWebGL2() {
  try {
    return Boolean(document.createElement("canvas").getContext("webgl2"));
  } catch {
    return false;
  }
}

function first(value) {
  return Array.isArray(value) ? value[0] : value;
}

function dot(a, b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

function sub(a, b) {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}

let cornerstoneReady = null;

/**
 * Initialise Cornerstone, its DICOM loader and tools once per page.
 * @param {string} staticBase
 * @param {number} [contextsPerEngine]  WebGL contexts each rendering engine keeps (Cornerstone's
 *   default is 7); a page with several viewers, each with its own engine, asks for 1 so that
 *   the browser's limit on live contexts (16 in Chromium) is not reached and none is lost.
 */
function initCornerstone(staticBase, contextsPerEngine) {
  if (!cornerstoneReady) {
    cornerstoneReady = (async () => {
      const gpu = hasWebGL2();
      if (!gpu) setUseCPURendering(true);
      await coreInit(contextsPerEngine ? { rendering: { webGlContextCount: contextsPerEngine } } : undefined);
      loaderInit({
        maxWebWorkers: Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1)),
        wasmBasePath: `${staticBase}wasm/`,
      });
      registerBulkLoader();
      toolsInit();
      for (const tool of [StackScrollTool, WindowLevelTool, ZoomTool, PanTool]) addTool(tool);
      return { gpu };
    })();
  }
  return cornerstoneReady;
}

export class Viewer extends EventTarget {
  /**
   * @param {HTMLElement} element  the viewport element
   * @param {object} config        the page's workstation config (dicomwebRoot, studyUid, seriesUid, ...)
   * @param {string} staticBase    URL of the folder the bundle is served from
   */
  constructor(element, config, staticBase) {
    super();
    this.element = element;
    this.config = config;
    this.staticBase = staticBase;
    this.imageIds = [];
    this.plane = "acquired";
    this.acquiredIndex = 0;
    this.defaultWindow = null;
    this.volumeId = null;
    this.gpu = false;
    this.engine = null;
    this.toolGroup = null;
    // Several viewers on one page (the measuring page) each need their own engine and tool
    // group: config.viewerId names them apart.
    const suffix = config.viewerId ? `-${config.viewerId}` : "";
    this.engineId = `${ENGINE_ID}${suffix}`;
    this.toolGroupId = `${TOOL_GROUP_ID}${suffix}`;
  }

  /**
   * Show the start slice, then load the rest of the series.
   * @param {string} seriesUrl  the series' WADO-RS URL (absolute)
   * @param {object[]} metadata its WADO-RS metadata (DICOM JSON, one object per instance, in slice order)
   * @param {{frames?: BulkFrames}} [options]  the series' pixel data in bulk, if the page has
   *   started fetching it already (bulk.js); otherwise the viewer starts it itself
   */
  async start(seriesUrl, metadata, { frames = null } = {}) {
    const startIndex = Math.min(Math.max(this.config.startSlice || 0, 0), metadata.length - 1);
    this.frames = frames || new BulkFrames(seriesUrl, metadata.length, startIndex);
    const { gpu } = await initCornerstone(this.staticBase, this.config.webGlContextsPerEngine);
    this.gpu = gpu;
    performance.mark("workstation:cornerstone-ready");
    this.imageIds = metadata.map((instance) => {
      const sop = instance["00080018"].Value[0];
      const imageId = `wadors:${seriesUrl}/instances/${sop}/frames/1`;
      dicomImageLoader.wadors.metaDataManager.add(imageId, instance);
      return imageId;
    });
    this.imageIds.forEach((imageId, index) => bulkSource(imageId, this.frames, index));
    this.defaultWindow = this.windowFromHeader(this.imageIds[0]);

    this.engine = new RenderingEngine(this.engineId);
    this.toolGroup = ToolGroupManager.createToolGroup(this.toolGroupId);
    this.toolGroup.addTool(WindowLevelTool.toolName);
    // Drag up zooms in, as in the common viewers (Cornerstone's default zooms out).
    this.toolGroup.addTool(ZoomTool.toolName, { invert: true });
    this.toolGroup.addTool(PanTool.toolName);
    this.toolGroup.addTool(StackScrollTool.toolName);
    const { MouseBindings } = ToolEnums;
    this.toolGroup.setToolActive(WindowLevelTool.toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] });
    this.toolGroup.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
    this.toolGroup.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
    if (!this.single) {
      this.toolGroup.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
    }

    this.element.addEventListener("contextmenu", (event) => event.preventDefault());
    this.element.addEventListener(Enums.Events.STACK_NEW_IMAGE, () => this.emitSlice());
    this.element.addEventListener(Enums.Events.VOLUME_NEW_IMAGE, () => this.emitSlice());
    this.element.addEventListener(Enums.Events.VOI_MODIFIED, () => this.emit("window"));
    this.element.addEventListener(Enums.Events.IMAGE_RENDERED, () => this.emit("rendered"));
    new ResizeObserver(() => this.engine && this.engine.resize(true, true)).observe(this.element);

    const start = startIndex;
    await this.showAcquired(start);
    performance.mark("workstation:viewer-ready");
    this.emit("firstimage");
    this.prefetch(start).then(() => {
      performance.mark("workstation:series-loaded");
      this.emit("loaded");
    });
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  emitSlice() {
    this.emit("slice", { index: this.sliceIndex(), count: this.sliceCount() });
  }

  get viewport() {
    return this.engine.getViewport(VIEWPORT_ID);
  }

  enable(type, orientation) {
    if (this.engine.getViewport(VIEWPORT_ID)) {
      this.toolGroup.removeViewports(this.engineId, VIEWPORT_ID);
      this.engine.disableElement(VIEWPORT_ID);
    }
    this.engine.enableElement({
      viewportId: VIEWPORT_ID,
      type,
      element: this.element,
      defaultOptions: { background: [0, 0, 0], ...(orientation ? { orientation } : {}) },
    });
    this.toolGroup.addViewport(VIEWPORT_ID, this.engineId);
  }

  async showAcquired(index) {
    this.enable(Enums.ViewportType.STACK);
    await this.viewport.setStack(this.imageIds, index);
    if (this.savedWindow) this.viewport.setProperties({ voiRange: this.savedWindow });
    this.viewport.render();
    this.emitSlice();
  }

  /** Switch between the acquired plane and the coronal/sagittal reformats. */
  async setPlane(plane) {
    if (!(plane in PLANES) || plane === this.plane) return;
    if (plane !== "acquired" && !this.canReformat) throw new Error("Reformats need WebGL, which this browser lacks.");
    this.savedWindow = this.currentRange();
    if (this.plane === "acquired") this.acquiredIndex = this.viewport.getCurrentImageIdIndex();
    this.plane = plane;
    if (plane === "acquired") {
      await this.showAcquired(this.acquiredIndex);
    } else {
      if (!this.volumeId) {
        const { volumeCreate } = await import("./reformat.js");
        this.volumeId = await volumeCreate(`cornerstoneStreamingImageVolume:${this.config.reading}`, this.imageIds);
      }
      this.enable(Enums.ViewportType.ORTHOGRAPHIC, PLANES[plane]);
      await this.viewport.setVolumes([{ volumeId: this.volumeId }]);
      if (this.savedWindow) this.viewport.setProperties({ voiRange: this.savedWindow });
      this.viewport.render();
      this.emitSlice();
    }
    this.emit("plane", { plane });
  }

  get canReformat() {
    return this.gpu && !this.single;
  }

  /** Whether the series is one image (a radiograph): nothing to scroll or reformat. */
  get single() {
    return this.imageIds.length === 1;
  }

  /** The pixel spacing of the acquired plane, mm: {row, column}. */
  pixelSpacing() {
    const plane = metaData.get("imagePlaneModule", this.imageIds[0]);
    return { row: Number(plane?.rowPixelSpacing) || 1, column: Number(plane?.columnPixelSpacing) || 1 };
  }

  sliceIndex() {
    if (this.plane === "acquired") return this.viewport.getCurrentImageIdIndex();
    return utilities.getImageSliceDataForVolumeViewport(this.viewport)?.imageIndex ?? 0;
  }

  sliceCount() {
    if (this.plane === "acquired") return this.imageIds.length;
    return utilities.getImageSliceDataForVolumeViewport(this.viewport)?.numberOfSlices ?? 1;
  }

  /** Show slice `index` of the current plane (clamped to the series). */
  async scrollTo(index) {
    const target = Math.min(Math.max(Math.round(index), 0), this.sliceCount() - 1);
    if (target === this.sliceIndex()) return;
    if (this.plane === "acquired") await this.viewport.setImageIdIndex(target);
    else await utilities.jumpToSlice(this.element, { imageIndex: target });
  }

  scrollBy(delta) {
    return this.scrollTo(this.sliceIndex() + delta);
  }

  /** The window (centre, width) in the first instance's header, if any. */
  windowFromHeader(imageId) {
    const voi = metaData.get("voiLutModule", imageId);
    const center = Number(first(voi?.windowCenter));
    const width = Number(first(voi?.windowWidth));
    return Number.isFinite(center) && Number.isFinite(width) && width > 0 ? { center, width } : null;
  }

  /** The current VOI range {lower, upper}, or null before an image is shown. */
  currentRange() {
    const viewport = this.engine && this.engine.getViewport(VIEWPORT_ID);
    const properties = viewport ? viewport.getProperties() : null;
    return properties?.voiRange || null;
  }

  /** The current window as {center, width}. */
  get window() {
    const range = this.currentRange();
    if (!range) return null;
    return { center: (range.upper + range.lower) / 2, width: range.upper - range.lower };
  }

  setWindow({ center, width }) {
    this.viewport.setProperties({ voiRange: { lower: center - width / 2, upper: center + width / 2 } });
    this.viewport.render();
  }

  /** Window presets for MR, relative to the header's window (MR has no absolute units). */
  presets() {
    const base = this.defaultWindow || this.window || { center: 0, width: 1 };
    const image = this.plane === "acquired" ? cache.getImage(this.viewport.getCurrentImageId()) : null;
    const presets = [
      { name: "Default", window: base },
      { name: "Narrow", window: { center: base.center, width: base.width * 0.6 } },
      { name: "Wide", window: { center: base.center, width: base.width * 1.6 } },
    ];
    if (image && image.maxPixelValue > image.minPixelValue) {
      const { minPixelValue: lo, maxPixelValue: hi } = image;
      presets.push({ name: "Full range", window: { center: (hi + lo) / 2, width: hi - lo } });
    }
    return presets;
  }

  /** Zoom, pan and window back to how the series first appeared. */
  reset() {
    this.viewport.resetCamera();
    if (this.defaultWindow) this.setWindow(this.defaultWindow);
    else this.viewport.resetProperties();
    this.viewport.render();
  }

  /** Load every slice (nearest to `start` first); resolves when all are in the cache. */
  async prefetch(start) {
    const order = this.imageIds
      .map((id, index) => ({ id, distance: Math.abs(index - start) }))
      .sort((a, b) => a.distance - b.distance)
      .map((entry) => entry.id);
    let next = 0;
    const worker = async () => {
      while (next < order.length) {
        const imageId = order[next++];
        try {
          await imageLoader.loadAndCacheImage(imageId);
        } catch (error) {
          this.emit("error", { message: `A slice could not be loaded (${error?.message || error}).` });
        }
      }
    };
    await Promise.all(Array.from({ length: PREFETCH_CONCURRENCY }, worker));
  }

  // ---- coordinates --------------------------------------------------------------------

  /** The current view plane: a point on it, its normal and the spacing between its slices (mm). */
  viewPlane() {
    const camera = this.viewport.getCamera();
    let spacing = 1;
    if (this.plane === "acquired") {
      const plane = metaData.get("imagePlaneModule", this.imageIds[0]);
      const next = this.imageIds[1] && metaData.get("imagePlaneModule", this.imageIds[1]);
      if (next) spacing = Math.abs(dot(sub(next.imagePositionPatient, plane.imagePositionPatient), camera.viewPlaneNormal));
      else spacing = Number(plane?.sliceThickness) || 1;
    } else {
      spacing = utilities.getSpacingInNormalDirection(cache.getVolume(this.volumeId), camera.viewPlaneNormal);
    }
    return { point: camera.focalPoint, normal: camera.viewPlaneNormal, spacing: spacing || 1 };
  }

  /**
   * The geometry of acquired slice `slice`: its first pixel's centre, the row and column
   * directions and the spacing along each (mm). Along a row (x) the step is the column spacing,
   * PixelSpacing[1], down a column (y) the row spacing, PixelSpacing[0] (PS3.3 C.7.6.2.1.1).
   * (Cornerstone's image/world utilities scale x by the row spacing: wrong for non-square pixels.)
   */
  slicePlane(slice) {
    const plane = metaData.get("imagePlaneModule", this.imageIds[slice]);
    return {
      origin: plane.imagePositionPatient,
      rowCosines: plane.rowCosines,
      columnCosines: plane.columnCosines,
      dx: Number(plane.columnPixelSpacing) || 1,
      dy: Number(plane.rowPixelSpacing) || 1,
      columns: plane.columns,
      rows: plane.rows,
    };
  }

  /**
   * Image coordinates (slice, column x, row y) of a point on the canvas; acquired plane only.
   * As in Cornerstone, a pixel's centre is at +0.5 (pixel (0, 0) spans 0..1).
   */
  canvasToImage(canvasX, canvasY) {
    if (this.plane !== "acquired") return null;
    const slice = this.viewport.getCurrentImageIdIndex();
    const world = this.viewport.canvasToWorld([canvasX, canvasY]);
    const p = this.slicePlane(slice);
    const offset = sub(world, p.origin);
    const x = dot(offset, p.rowCosines) / p.dx + 0.5;
    const y = dot(offset, p.columnCosines) / p.dy + 0.5;
    if (x < 0 || y < 0 || x >= p.columns || y >= p.rows) return null;
    return { slice, x, y };
  }

  /** Patient position (mm) of image point (x, y) on acquired slice `slice`. */
  imageToWorld(slice, x, y) {
    const p = this.slicePlane(slice);
    return [0, 1, 2].map((i) => p.origin[i] + p.rowCosines[i] * p.dx * (x - 0.5) + p.columnCosines[i] * p.dy * (y - 0.5));
  }

  /** Canvas position of a patient point and its distance (mm) from the view plane. */
  worldToCanvas(world) {
    const plane = this.viewPlane();
    const [cx, cy] = this.viewport.worldToCanvas(world);
    return { x: cx, y: cy, distance: Math.abs(dot(sub(world, plane.point), plane.normal)), spacing: plane.spacing };
  }

  /** A one-line description of where the view is (slice position along its normal, mm). */
  positionText() {
    if (this.single) {
      const { row, column } = this.pixelSpacing();
      const mm = (value) => Number(value.toFixed(4)).toString();
      return row === column ? `${mm(row)} mm/pixel` : `${mm(row)} × ${mm(column)} mm/pixel`;
    }
    const { point, normal } = this.viewPlane();
    return `${dot(point, normal).toFixed(1)} mm`;
  }
}
