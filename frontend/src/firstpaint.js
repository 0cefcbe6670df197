// The first image, fast: the start slice drawn on a plain 2D canvas from its WADO-RS frame
// while the Cornerstone viewer (a much larger script) loads. The viewer hides the canvas
// once it has rendered the same slice; until then the image can be looked at but not
// scrolled, windowed or marked.
//
// It draws only what it can draw exactly as the viewer will: one sample per pixel
// (MONOCHROME1/2), 8 or 16 bits allocated, stored bits in the low bits. The server sends
// frames uncompressed, little endian (views.dicomweb.frames). Grey values follow DICOM
// PS3.3: the Modality LUT (C.11.1, rescale slope/intercept), then the linear VOI function
// of C.11.2.1.2.1 with the header's first window (or the frame's full range when the
// header has none), then MONOCHROME1 inversion. The image is fitted inside the canvas,
// centred, with its aspect ratio from Pixel Spacing, as the viewer's camera does.

function value(instance, tag, index = 0) {
  const values = instance[tag]?.Value;
  return values && values.length > index ? values[index] : undefined;
}

/** The frame's bytes from a multipart/related response (PS3.18 8.7.3.3). */
async function frameBytes(response) {
  const boundary = /boundary="?([^";]+)"?/i.exec(response.headers.get("Content-Type") || "")?.[1];
  const body = new Uint8Array(await response.arrayBuffer());
  if (!boundary) return body;
  const text = new TextDecoder("latin1").decode(body.subarray(0, Math.min(body.length, 1024)));
  const headerEnd = text.indexOf("\r\n\r\n");
  if (headerEnd < 0) throw new Error("malformed multipart frame");
  const start = headerEnd + 4;
  // The part ends where the closing delimiter "\r\n--boundary--" begins.
  const tailStart = Math.max(start, body.length - 256);
  const at = new TextDecoder("latin1").decode(body.subarray(tailStart)).lastIndexOf(`\r\n--${boundary}`);
  const end = at >= 0 ? tailStart + at : body.length;
  return body.slice(start, end);
}

/** The frame's stored values as a typed array, or null when this module cannot draw it. */
function storedValues(instance, bytes) {
  const samples = Number(value(instance, "00280002") ?? 1);
  const bits = Number(value(instance, "00280100"));
  const signed = Number(value(instance, "00280103") ?? 0) === 1;
  const photometric = String(value(instance, "00280004") || "");
  if (samples !== 1 || !/^MONOCHROME[12]$/.test(photometric)) return null;
  const rows = Number(value(instance, "00280010"));
  const columns = Number(value(instance, "00280011"));
  const count = rows * columns;
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  if (bits === 8 && buffer.byteLength >= count) {
    return signed ? new Int8Array(buffer, 0, count) : new Uint8Array(buffer, 0, count);
  }
  if (bits === 16 && buffer.byteLength >= 2 * count) {
    const stored = Number(value(instance, "00280101") ?? 16);
    const raw = signed ? new Int16Array(buffer, 0, count) : new Uint16Array(buffer, 0, count);
    if (stored >= 16) return raw;
    // Keep the stored bits; sign-extend them for signed data (PS3.5 8.1.1).
    const out = new Int32Array(count);
    const mask = (1 << stored) - 1;
    const sign = 1 << (stored - 1);
    for (let i = 0; i < count; i++) {
      const v = raw[i] & mask;
      out[i] = signed && v & sign ? v - (1 << stored) : v;
    }
    return out;
  }
  return null;
}

/** 8-bit grey levels of the frame (Modality LUT, linear VOI, MONOCHROME1 inverted). */
export function greyLevels(instance, stored) {
  const slope = Number(value(instance, "00281053") ?? 1);
  const intercept = Number(value(instance, "00281052") ?? 0);
  let center = Number(value(instance, "00281050"));
  let width = Number(value(instance, "00281051"));
  const count = stored.length;
  const modality = new Float32Array(count);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < count; i++) {
    const v = stored[i] * slope + intercept;
    modality[i] = v;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(Number.isFinite(center) && Number.isFinite(width) && width >= 1)) {
    center = (hi + lo) / 2;
    width = Math.max(hi - lo, 1);
  }
  const invert = String(value(instance, "00280004")) === "MONOCHROME1";
  const bottom = center - 0.5 - (width - 1) / 2;
  const top = center - 0.5 + (width - 1) / 2;
  const grey = new Uint8ClampedArray(count);
  for (let i = 0; i < count; i++) {
    const x = modality[i];
    let y;
    if (x <= bottom) y = 0;
    else if (x > top) y = 255;
    else y = ((x - (center - 0.5)) / Math.max(width - 1, 1) + 0.5) * 255;
    grey[i] = invert ? 255 - y : y;
  }
  return grey;
}

/**
 * Draw the frame at `frameUrl` (of the instance whose DICOM JSON is `instance`) on `canvas`.
 * Resolves true once it is on screen, false when the frame is of a kind left to the viewer.
 */
export async function firstPaint(canvas, frameUrl, instance) {
  const response = await fetch(frameUrl, {
    credentials: "same-origin",
    headers: { Accept: 'multipart/related; type="application/octet-stream"' },
  });
  if (!response.ok) return false;
  const stored = storedValues(instance, await frameBytes(response));
  if (!stored) return false;
  const rows = Number(value(instance, "00280010"));
  const columns = Number(value(instance, "00280011"));
  const grey = greyLevels(instance, stored);
  const rgba = new Uint8ClampedArray(rows * columns * 4);
  for (let i = 0, j = 0; i < grey.length; i++, j += 4) {
    rgba[j] = rgba[j + 1] = rgba[j + 2] = grey[i];
    rgba[j + 3] = 255;
  }
  const image = document.createElement("canvas");
  image.width = columns;
  image.height = rows;
  image.getContext("2d").putImageData(new ImageData(rgba, columns, rows), 0, 0);

  canvas.hidden = false; // shown before it is measured
  const scale = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * scale);
  canvas.height = Math.round(canvas.clientHeight * scale);
  const rowSpacing = Number(value(instance, "00280030", 0) ?? 1) || 1;
  const columnSpacing = Number(value(instance, "00280030", 1) ?? 1) || 1;
  const width = columns * columnSpacing;
  const height = rows * rowSpacing;
  const fit = Math.min(canvas.width / width, canvas.height / height);
  const context = canvas.getContext("2d");
  context.fillStyle = "#000";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.imageSmoothingEnabled = true;
  context.drawImage(
    image,
    (canvas.width - width * fit) / 2,
    (canvas.height - height * fit) / 2,
    width * fit,
    height * fit,
  );
  // Resolve once the browser has shown the frame: after the next animation frame's paint.
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  return true;
}
