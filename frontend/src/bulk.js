// Pixel data in bulk: a series' frames fetched a range of slices per request (the DICOMweb
// root's `{series}/slices/{a-b}`, a multipart/related response of one part per slice; see
// readerstudy/dicomweb/views.py bulk_frames), nearest to the start slice first.
//
// The page script starts it as soon as it has the metadata, before the viewer's bundle has
// arrived; the viewer's image loader (viewer.js) then takes each frame from here. A frame is a
// Uint8Array view into its response's one buffer (the server starts every part at a multiple
// of 8 bytes, so 16-bit views need no copy). Once the viewer has taken a frame this store
// forgets it (`take`), so the buffer lives only as long as the images that use it.
//
// One store per series root: a page with several viewers makes one for each.

import { fetchJson } from "./page.js";

const DEFAULT_CHUNK = 16;
const DEFAULT_CONCURRENCY = 3;

/** Slice ranges [first, last] covering 0..count-1 in chunks, nearest to `start` first. */
export function chunksNearestFirst(count, start, chunk = DEFAULT_CHUNK) {
  if (count <= 0) return [];
  const center = Math.min(Math.max(start, 0), count - 1);
  const first = Math.max(0, Math.min(center - Math.floor(chunk / 2), count - chunk));
  const ranges = [[first, Math.min(count - 1, first + chunk - 1)]];
  let below = first - 1;
  let above = ranges[0][1] + 1;
  while (below >= 0 || above < count) {
    // Whichever side's next chunk starts nearer to the start slice comes next.
    const takeAbove = above < count && (below < 0 || above - center <= center - below);
    if (takeAbove) {
      const last = Math.min(count - 1, above + chunk - 1);
      ranges.push([above, last]);
      above = last + 1;
    } else {
      const low = Math.max(0, below - chunk + 1);
      ranges.push([low, below]);
      below = low - 1;
    }
  }
  return ranges;
}

/** The parts of a multipart/related body as Uint8Array views into `buffer` (Content-Length framed). */
export function multipartViews(buffer) {
  const body = new Uint8Array(buffer);
  const latin1 = new TextDecoder("latin1");
  const parts = [];
  let pos = 0;
  for (;;) {
    const window = latin1.decode(body.subarray(pos, Math.min(body.length, pos + 2048)));
    if (window.startsWith("--") && /^--[^\r\n]*--/.test(window)) break; // the closing delimiter
    const headerEnd = window.indexOf("\r\n\r\n");
    if (headerEnd < 0) break;
    const length = Number(/\r\nContent-Length:\s*(\d+)/i.exec(window.slice(0, headerEnd))?.[1]);
    if (!Number.isFinite(length)) throw new Error("a bulk part has no Content-Length");
    const start = pos + headerEnd + 4;
    parts.push(body.subarray(start, start + length));
    pos = start + length + 2; // the CRLF before the next delimiter
  }
  return parts;
}

export class BulkFrames {
  /**
   * @param {string} seriesUrl   the series' WADO-RS URL (absolute)
   * @param {number} count       how many slices it has
   * @param {number} start       the slice to load first (with its neighbours)
   * @param {{chunk?: number, concurrency?: number}} [options]
   */
  constructor(seriesUrl, count, start, { chunk = DEFAULT_CHUNK, concurrency = DEFAULT_CONCURRENCY } = {}) {
    this.seriesUrl = seriesUrl;
    this.count = count;
    this.frames = Array.from({ length: count }, deferred); // {promise, resolve, reject}; null once taken
    const queue = chunksNearestFirst(count, start, chunk);
    const worker = async () => {
      while (queue.length) await this.fetchRange(...queue.shift());
    };
    this.done = Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
  }

  async fetchRange(first, last) {
    const waiting = this.frames.slice(first, last + 1); // kept even if taken meanwhile
    try {
      const response = await fetch(`${this.seriesUrl}/slices/${first}-${last}`, {
        credentials: "same-origin",
        headers: { Accept: 'multipart/related; type="application/octet-stream"' },
      });
      if (!response.ok) throw new Error(`slices ${first}-${last}: ${response.status}`);
      const parts = multipartViews(await response.arrayBuffer());
      if (parts.length !== last - first + 1) throw new Error(`slices ${first}-${last}: ${parts.length} parts`);
      parts.forEach((bytes, n) => waiting[n]?.resolve(bytes));
    } catch (error) {
      for (const entry of waiting) entry?.reject(error);
    }
  }

  /** The bytes of slice `index` (a view into its response), once; later calls get null. */
  take(index) {
    const entry = this.frames[index];
    if (!entry) return null;
    this.frames[index] = null;
    return entry.promise;
  }
}

function deferred() {
  const entry = {};
  entry.promise = new Promise((resolve, reject) => Object.assign(entry, { resolve, reject }));
  entry.promise.catch(() => {}); // a frame nobody takes must not raise an unhandled rejection
  return entry;
}

/**
 * Start loading one series (a viewer's root): its metadata (inlined by the page; fetched when
 * it is not) and its pixel data in bulk, nearest to the start slice first. A page with several
 * viewers calls it once per series, each with its own metadata element (or none).
 * @param {object} config     a viewer configuration (dicomwebRoot, studyUid, seriesUid, startSlice)
 * @param {string} seriesUrl  the series' WADO-RS URL
 * @param {string} [metadataId]  id of the page's <script type="application/json"> with the metadata
 */
export async function seriesLoadStart(config, seriesUrl, metadataId = "series-metadata") {
  const inline = document.getElementById(metadataId);
  const metadata = inline ? JSON.parse(inline.textContent) : await fetchJson(`${seriesUrl}/metadata`);
  if (!metadata.length) throw new Error("This series has no images.");
  performance.mark("workstation:metadata");
  const start = Math.min(Math.max(config.startSlice || 0, 0), metadata.length - 1);
  const frames = new BulkFrames(seriesUrl, metadata.length, start);
  return { metadata, frames };
}

