// Keyboard shortcuts as data: a keymap is a list of bindings, which drives both the keydown
// handler (listenForKeys) and the help dialog's table (renderKeymapHelp).
//
// A binding:
//   id           the action's name ("scroll", "rate-mark", ...)
//   keys         KeyboardEvent.key values it answers to; a single letter answers to either case
//   digits       instead of keys: "plain" or "shift", the number keys (KeyboardEvent.code
//                Digit0–Digit9, whatever the layout) without or with Shift; `run` gets the digit
//   description  what it does, for the help
//   label        how its keys are written in the help (default: from `keys`, e.g. "↑ · ↓")
//   when(event)  whether it is enabled now (default: always)
//   run(event, digit)  do it; return false when the key turned out to be of no use here
//
// A key press goes to the first enabled binding that answers to it; one whose `run` returns
// false passes it on to the next. A key that a binding used has its default action prevented;
// one that none used is left to the browser. Presses with Ctrl, Alt or Meta are never used.

const KEY_LABELS = {
  ArrowUp: "↑",
  ArrowDown: "↓",
  ArrowLeft: "←",
  ArrowRight: "→",
  PageUp: "PgUp",
  PageDown: "PgDn",
  Escape: "Esc",
  " ": "Space",
};

/** The digit a binding answers to in `event`, true for a key it answers to, else null. */
function matchKey(binding, event) {
  if (binding.digits) {
    const digit = /^Digit(\d)$/.exec(event.code);
    if (!digit || event.shiftKey !== (binding.digits === "shift")) return null;
    return Number(digit[1]);
  }
  const key = event.key;
  const hit = binding.keys.some((k) => (k.length === 1 ? k.toLowerCase() === key.toLowerCase() : k === key));
  return hit ? true : null;
}

/** A key press in a text box or text area (typing, not a shortcut). */
export function isTextEntry(event) {
  const target = event.target;
  return target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text");
}

/** A key press in any form field (input, text area, select). */
export function isFormField(event) {
  return ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName);
}

/**
 * Answer the page's key presses from `keymap`.
 * @param {object[]} keymap
 * @param {object} [options]
 * @param {(event: KeyboardEvent) => boolean} [options.ignore]  presses no binding sees
 */
export function listenForKeys(keymap, { ignore = () => false } = {}) {
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || ignore(event)) return;
    for (const binding of keymap) {
      const match = matchKey(binding, event);
      if (match === null || (binding.when && !binding.when(event))) continue;
      if (binding.run(event, match) !== false) {
        event.preventDefault();
        return;
      }
    }
  });
}

/** How a binding's keys are written in the help. */
export function keyLabel(binding) {
  if (binding.label) return binding.label;
  if (binding.digits) return binding.digits === "shift" ? "Shift + 0–9" : "0–9";
  return binding.keys.map((key) => KEY_LABELS[key] || (key.length === 1 ? key.toUpperCase() : key)).join(" · ");
}

/**
 * Fill `table` with one row per binding (keys, description), after the `extra` rows
 * (e.g. the mouse gestures, [label, description] pairs).
 * @param {HTMLTableElement} table
 * @param {object[]} keymap
 * @param {Array<[string, string]>} [extra]
 */
export function renderKeymapHelp(table, keymap, extra = []) {
  const rows = [...extra, ...keymap.map((binding) => [keyLabel(binding), binding.description])];
  const body = document.createElement("tbody");
  for (const [keys, description] of rows) {
    const row = body.insertRow();
    const th = document.createElement("th");
    th.textContent = keys;
    row.append(th);
    row.insertCell().textContent = description;
  }
  table.replaceChildren(body);
}
