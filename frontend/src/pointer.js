// Clicks on the viewer's image, told apart from the drags that window, zoom and pan.

/** A pointer that moves more than this between down and up is a drag, not a click. */
export const CLICK_TOLERANCE_PX = 4;

/**
 * Call `handler({x, y})` (canvas pixels) for every left click on the viewer's element; drags
 * are ignored.
 * @param {import("./viewer.js").Viewer} viewer
 * @param {(point: {x:number, y:number}) => void} handler
 */
export function onViewClick(viewer, handler) {
  const element = viewer.element;
  let down = null;
  element.addEventListener("pointerdown", (event) => {
    down = event.button === 0 ? { x: event.clientX, y: event.clientY } : null;
  });
  element.addEventListener("pointerup", (event) => {
    if (!down || event.button !== 0) return;
    const moved = Math.hypot(event.clientX - down.x, event.clientY - down.y);
    down = null;
    if (moved > CLICK_TOLERANCE_PX) return;
    const rect = element.getBoundingClientRect();
    handler({ x: event.clientX - rect.left, y: event.clientY - rect.top });
  });
}

/**
 * Call `handler({slice, x, y})` (image pixel coordinates, viewer.canvasToImage) for every
 * left click on the viewer's image; drags and clicks off the image are ignored.
 * @param {import("./viewer.js").Viewer} viewer
 * @param {(point: {slice:number, x:number, y:number}) => void} handler
 */
export function onImageClick(viewer, handler) {
  onViewClick(viewer, ({ x, y }) => {
    const point = viewer.canvasToImage(x, y);
    if (point) handler(point);
  });
}
