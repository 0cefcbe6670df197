// The volume behind the coronal and sagittal reformats (viewer.js setPlane): its own chunk of
// the viewer's bundle, loaded when a reformat is first asked for (the page preloads it).
// The volume is made of the images the stack has in Cornerstone's cache already (the
// streaming volume reuses cached images), so the slices are not fetched again.

import { volumeLoader } from "@cornerstonejs/core";

/** Create, cache and start loading the volume `volumeId` over `imageIds`; resolves to its id. */
export async function volumeCreate(volumeId, imageIds) {
  const volume = await volumeLoader.createAndCacheVolume(volumeId, { imageIds });
  volume.load();
  return volumeId;
}
