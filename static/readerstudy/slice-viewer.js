// A minimal stack viewer: one server-rendered PNG per slice, scrolled with the
// wheel, arrow keys or a slider. Neighbouring slices are preloaded.
(function () {
  "use strict";
  const viewer = document.getElementById("viewer");
  const img = document.getElementById("slice-image");
  if (!viewer || !img) return;
  const count = Number(viewer.dataset.slices);
  const template = viewer.dataset.src; // URL of slice 0
  const slider = document.getElementById("slice-slider");
  const label = document.getElementById("slice-label");
  let current = Number(viewer.dataset.start);
  const cache = new Map();

  function url(index) {
    return template.replace(/\/slices\/0\.png$/, "/slices/" + index + ".png");
  }
  function preload(index) {
    if (index < 0 || index >= count || cache.has(index)) return;
    const image = new Image();
    image.src = url(index);
    cache.set(index, image);
  }
  function show(index) {
    current = Math.max(0, Math.min(count - 1, index));
    img.src = url(current);
    slider.value = String(current);
    label.textContent = "Slice " + (current + 1) + " / " + count;
    for (let d = 1; d <= 3; d++) { preload(current + d); preload(current - d); }
  }
  viewer.addEventListener("wheel", function (event) {
    event.preventDefault();
    show(current + (event.deltaY > 0 ? 1 : -1));
  }, { passive: false });
  slider.addEventListener("input", function () { show(Number(slider.value)); });
  document.addEventListener("keydown", function (event) {
    if (event.target.closest && event.target.closest("textarea, input[type=text]")) return;
    if (event.key === "ArrowUp" || event.key === "ArrowLeft") { event.preventDefault(); show(current - 1); }
    if (event.key === "ArrowDown" || event.key === "ArrowRight") { event.preventDefault(); show(current + 1); }
  });
  show(current);
})();
