// The viewer's image loader for uncompressed frames that came in bulk (bulk.js): the image is
// built here from the frame's bytes, a typed-array view into the bulk response (no copy), with
// no round trip to the DICOM image loader's decode worker. What it cannot build exactly (colour,
// rescaled values, unused high bits, an odd offset) and every frame it has no bytes for go to
// the DICOM image loader's own WADO-RS loader, as before.
//
// It takes the "wadors:" scheme, so image ids (and everything keyed by them: metadata, marks,
// the cache) stay what they were.

import { imageLoader, metaData, utilities } from "@cornerstonejs/core";
import dicomImageLoader from "@cornerstonejs/dicom-image-loader";

/** imageId -> {frames: BulkFrames, index}: where each frame's bytes will come from. */
const sources = new Map();
let registered = false;

/** Say that `imageId`'s pixel data is slice `index` of the bulk store `frames`. */
export function bulkSource(imageId, frames, index) {
  sources.set(imageId, { frames, index });
}

/** Take over the "wadors:" scheme (once per page; the DICOM image loader's stays the fallback). */
export function registerBulkLoader() {
  if (registered) return;
  registered = true;
  const fallback = dicomImageLoader.wadors.loadImage;
  imageLoader.registerImageLoader("wadors", (imageId, options = {}) => {
    const source = sources.get(imageId);
    const bytes = source ? source.frames.take(source.index) : null;
    if (!bytes) return fallback(imageId, options);
    sources.delete(imageId);
    const viaFallback = () => fallback(imageId, options).promise;
    const promise = bytes.then(
      (frame) => imageFromFrame(imageId, frame, options) || viaFallback(),
      viaFallback,
    );
    return { promise, cancelFn: undefined };
  });
}

const CONSTRUCTORS = { Uint8Array, Int8Array, Uint16Array, Int16Array, Float32Array, Uint32Array, Int32Array };

/** The stored values of a frame as a typed array over `bytes`, or null when they need decoding. */
function storedArray(bytes, pixel, count) {
  const { bitsAllocated, bitsStored, pixelRepresentation } = pixel;
  if (bitsStored !== bitsAllocated) return null; // unused high bits would need masking
  const signed = pixelRepresentation === 1;
  if (bitsAllocated === 8 && bytes.byteLength >= count) {
    return new (signed ? Int8Array : Uint8Array)(bytes.buffer, bytes.byteOffset, count);
  }
  if (bitsAllocated === 16 && bytes.byteLength >= 2 * count && bytes.byteOffset % 2 === 0) {
    return new (signed ? Int16Array : Uint16Array)(bytes.buffer, bytes.byteOffset, count);
  }
  return null;
}

function firstOf(value) {
  return Array.isArray(value) ? value[0] : value;
}

/** A Cornerstone image (as the DICOM image loader's createImage makes it), or null. */
export function imageFromFrame(imageId, bytes, options = {}) {
  const pixel = metaData.get("imagePixelModule", imageId);
  if (!pixel || pixel.samplesPerPixel !== 1 || !/^MONOCHROME[12]$/.test(pixel.photometricInterpretation || "")) {
    return null;
  }
  const modalityLut = metaData.get("modalityLutModule", imageId) || {};
  const slope = Number(modalityLut.rescaleSlope ?? 1);
  const intercept = Number(modalityLut.rescaleIntercept ?? 0);
  if (slope !== 1 || intercept !== 0 || modalityLut.modalityLUTSequence?.length) return null;
  const { rows, columns } = pixel;
  let pixelData = storedArray(bytes, pixel, rows * columns);
  if (!pixelData) return null;
  const wanted = options.targetBuffer?.type;
  if (wanted && wanted !== pixelData.constructor.name && CONSTRUCTORS[wanted]) {
    pixelData = CONSTRUCTORS[wanted].from(pixelData); // a volume of another type: one copy
  }
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < pixelData.length; i++) {
    const v = pixelData[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const plane = metaData.get("imagePlaneModule", imageId) || {};
  const voi = metaData.get("voiLutModule", imageId) || {};
  const series = metaData.get("generalSeriesModule", imageId) || {};
  const calibration = metaData.get("calibrationModule", imageId) || {};
  let windowCenter = firstOf(voi.windowCenter);
  let windowWidth = firstOf(voi.windowWidth);
  if (windowCenter === undefined || windowWidth === undefined) {
    ({ windowCenter, windowWidth } = utilities.windowLevel.toWindowLevel(min, max));
  }
  const imageFrame = {
    samplesPerPixel: 1,
    photometricInterpretation: pixel.photometricInterpretation,
    rows,
    columns,
    bitsAllocated: pixel.bitsAllocated,
    bitsStored: pixel.bitsStored,
    pixelRepresentation: pixel.pixelRepresentation,
    smallestPixelValue: min,
    largestPixelValue: max,
    pixelData,
    pixelDataLength: pixelData.length,
  };
  const voxelManager = utilities.VoxelManager.createImageVoxelManager({
    scalarData: pixelData,
    width: columns,
    height: rows,
    numberOfComponents: 1,
  });
  return {
    imageId,
    dataType: pixelData.constructor.name,
    color: false,
    calibration,
    columnPixelSpacing: plane.columnPixelSpacing,
    rowPixelSpacing: plane.rowPixelSpacing,
    columns,
    rows,
    width: columns,
    height: rows,
    // Slope 1 and intercept 0: the stored values are the modality values already.
    preScale: { enabled: true, scaled: true, scalingParameters: { rescaleSlope: 1, rescaleIntercept: 0, modality: series.modality } },
    intercept: 0,
    slope: 1,
    invert: pixel.photometricInterpretation === "MONOCHROME1",
    minPixelValue: min,
    maxPixelValue: max,
    sizeInBytes: pixelData.byteLength,
    windowCenter,
    windowWidth,
    voiLUTFunction: firstOf(voi.voiLUTFunction) || undefined,
    voiLUT: voi.voiLUTSequence?.length ? voi.voiLUTSequence[0] : undefined,
    floatPixelData: undefined,
    imageFrame,
    voxelManager,
    rgba: false,
    getPixelData: () => voxelManager.getScalarData(),
    getCanvas: undefined,
    numberOfComponents: 1,
    transferSyntaxUID: "1.2.840.10008.1.2.1",
    imageQualityStatus: 8, // Enums.ImageQualityStatus.FULL_RESOLUTION
    loadTimeInMS: 0,
    decodeTimeInMS: 0,
  };
}
