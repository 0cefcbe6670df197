// The reading page's keyboard shortcuts (keymap.js): the keydown handler and the help dialog
// (#help, its table #help-keys) both come from this list. Keys that act on the image are
// enabled once the viewer shows the series.

/** Mouse gestures, handled by the viewer itself; listed in the help before the keys. */
export const GESTURE_HELP = [
  ["Wheel", "Previous / next slice"],
  ["Drag", "Window/level"],
  ["Right-drag up · down", "Zoom in · out (the factor is shown bottom right)"],
  ["Middle-drag", "Pan"],
];

/** The gestures of a series of one image (a radiograph): nothing to scroll. */
export const SINGLE_IMAGE_GESTURE_HELP = GESTURE_HELP.filter(([gesture]) => gesture !== "Wheel");

/** Keys that move between slices or planes: a series of one image (config.numSlices 1) has none. */
const SLICE_KEYS = new Set(["scroll", "first-last-slice", "plane"]);

const SCROLL_STEPS = { ArrowUp: -1, ArrowDown: 1, PageUp: -10, PageDown: 10 };
const PLANE_KEYS = { a: "acquired", c: "coronal", s: "sagittal" };

/**
 * @param {import("./state.js").Store} store  the workstation's store (workstation.js)
 * @returns {object[]} the keymap
 */
export function workstationKeymap(store) {
  const viewer = () => store.get("viewer");
  const marks = () => store.get("marks");
  const viewerReady = () => store.get("viewerReady");
  const config = store.get("config");
  const keymap = [
    {
      id: "scroll",
      keys: ["ArrowUp", "ArrowDown", "PageUp", "PageDown"],
      description: "Previous / next slice (PgUp, PgDn: 10 slices)",
      when: viewerReady,
      run: (event) => viewer().scrollBy(SCROLL_STEPS[event.key]),
    },
    {
      id: "first-last-slice",
      keys: ["Home", "End"],
      description: "First · last slice",
      when: viewerReady,
      run: (event) => viewer().scrollTo(event.key === "Home" ? 0 : Infinity),
    },
    {
      id: "window-preset",
      digits: "shift",
      label: "Shift + 1–9",
      description: "Window preset (in the order of the buttons)",
      when: viewerReady,
      run: (event, digit) => {
        const preset = viewer().presets()[digit - 1];
        if (preset) store.dispatch("apply-preset", preset);
      },
    },
    {
      id: "reset-view",
      keys: ["r"],
      description: "Reset zoom, pan and window",
      when: viewerReady,
      run: () => viewer().reset(),
    },
    {
      id: "plane",
      keys: ["a", "c", "s"],
      description: "Acquired plane · coronal · sagittal reformat",
      when: viewerReady,
      run: (event) => store.dispatch("set-plane", PLANE_KEYS[event.key.toLowerCase()]),
    },
    {
      id: "ruler",
      keys: ["m"],
      description: "Ruler on/off: two clicks measure a length in mm",
      when: viewerReady,
      run: () => store.dispatch("toggle-ruler"),
    },
    {
      id: "rate-mark",
      digits: "plain",
      label: "1–9",
      description: "Confidence of the selected mark",
      when: () => marks() !== null,
      run: (event, digit) => marks().rateSelected(digit),
    },
    {
      id: "answer-question",
      digits: "plain",
      description: "Otherwise: the answer to the focused question (on a finding, 0 is absent)",
      run: (event, digit) => store.get("scoring").numberKey(digit),
    },
    {
      id: "next-mark",
      keys: ["Tab"],
      description: "Select the next mark (when the image has the focus)",
      when: (event) => marks() !== null && event.target === viewer()?.element,
      run: () => marks().selectNext(),
    },
    {
      id: "delete-mark",
      keys: ["Delete", "Backspace"],
      description: "Delete the selected mark",
      when: () => Boolean(marks()?.selected),
      run: () => marks().remove(marks().selected),
    },
    {
      id: "deselect-mark",
      keys: ["Escape"],
      description: "Deselect the mark (number keys then answer the questions)",
      run: () => marks()?.select(null),
    },
    {
      id: "next-reading",
      keys: ["n"],
      description: "Next reading",
      run: () => store.dispatch("leave", config.nextUrl),
    },
    {
      id: "previous-reading",
      keys: ["p"],
      description: "Previous reading",
      run: () => store.dispatch("leave", config.previousUrl),
    },
    {
      id: "help",
      keys: ["?"],
      description: "This help",
      run: () => store.dispatch("show-help"),
    },
  ];
  return config.numSlices === 1 ? keymap.filter((entry) => !SLICE_KEYS.has(entry.id)) : keymap;
}
