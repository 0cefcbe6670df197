// The scoring panel: the study's questions as a form that autosaves every answer.
//
// The form is rendered by Django (it also works without this script); here each change is
// sent to the answers API as soon as it is made. Number keys answer the active question:
// the one with the keyboard focus, or, once a question is answered, the next unanswered
// one. On a finding, 0 means absent and a digit means present with that confidence.
// Free text is sent once the reader pauses typing, when the text box loses the focus, or
// when `flushPending()` is called (before submit and before the page is left).

const TEXT_DELAY_MS = 600;

/** The error of a required question left open at submit (the server's is the same: reading.views). */
export const MISSING_ANSWER = "Please answer this question before submitting.";

export class ScoringPanel {
  /**
   * @param {HTMLFormElement} form
   * @param {(key: string, answer: {value: ?number, present: ?boolean, text: string}) => void} onAnswer
   * @param {(key: string) => void} [onDraft]  a text was changed and will be sent after a pause
   */
  constructor(form, onAnswer, onDraft = () => {}) {
    this.form = form;
    this.onAnswer = onAnswer;
    this.onDraft = onDraft;
    this.fieldsets = [...form.querySelectorAll("fieldset.question")];
    this.timers = new Map();
    for (const fieldset of this.fieldsets) {
      fieldset.addEventListener("change", (event) => {
        this.changed(fieldset);
        // A question answered with the mouse: number keys go on with the next open one.
        if (event.target.type === "radio" && this.isComplete(fieldset)) this.advanceFrom(fieldset);
      });
      fieldset.addEventListener("input", (event) => {
        if (event.target.tagName === "TEXTAREA") this.changedLater(fieldset);
      });
      fieldset.addEventListener("focusout", (event) => {
        if (event.target.tagName === "TEXTAREA" && this.timers.has(fieldset)) this.changed(fieldset);
      });
      fieldset.addEventListener("focusin", () => this.activate(fieldset));
      this.syncFinding(fieldset);
    }
    this.activate(this.firstIncomplete());
  }

  answerOf(fieldset) {
    const key = fieldset.dataset.key;
    const kind = fieldset.dataset.kind;
    const checked = (name) => fieldset.querySelector(`input[name="${name}"]:checked`);
    if (kind === "text") return { value: null, present: null, text: fieldset.querySelector("textarea").value };
    const valueInput = checked(`q-${key}`);
    const value = valueInput ? Number(valueInput.value) : null;
    if (kind === "finding") {
      const presentInput = checked(`q-${key}-present`);
      const present = presentInput ? presentInput.value === "yes" : null;
      return { value: present ? value : null, present, text: "" };
    }
    return { value, present: null, text: "" };
  }

  isComplete(fieldset) {
    const answer = this.answerOf(fieldset);
    const kind = fieldset.dataset.kind;
    if (kind === "text") return Boolean(answer.text.trim());
    if (kind === "finding") {
      const hasScale = fieldset.querySelector(".confidence") !== null;
      return answer.present === false || (answer.present === true && (!hasScale || answer.value !== null));
    }
    return answer.value !== null;
  }

  firstIncomplete() {
    return this.fieldsets.find((f) => !f.disabled && !this.isComplete(f)) || null;
  }

  /** Make the next unanswered question after `fieldset` (else the first one) active. */
  advanceFrom(fieldset) {
    const after = this.fieldsets.slice(this.fieldsets.indexOf(fieldset) + 1);
    const next = after.find((f) => !f.disabled && !this.isComplete(f)) || this.firstIncomplete();
    this.activate(next || fieldset);
  }

  activate(fieldset) {
    this.active = fieldset;
    for (const f of this.fieldsets) f.classList.toggle("active", f === fieldset);
  }

  /** A finding marked absent takes no confidence: clear and grey out the confidence. */
  syncFinding(fieldset) {
    if (fieldset.dataset.kind !== "finding") return;
    const confidence = fieldset.querySelector(".confidence");
    if (!confidence) return;
    const absent = this.answerOf(fieldset).present !== true;
    confidence.setAttribute("aria-disabled", String(absent));
    if (this.answerOf(fieldset).present === false) {
      for (const input of confidence.querySelectorAll("input")) input.checked = false;
    }
  }

  changed(fieldset) {
    this.syncFinding(fieldset);
    // An error shown in the question goes once it is answered.
    if (fieldset.classList.contains("invalid") && this.isComplete(fieldset)) this.setError(fieldset, "");
    clearTimeout(this.timers.get(fieldset));
    this.timers.delete(fieldset);
    this.onAnswer(fieldset.dataset.key, this.answerOf(fieldset));
  }

  changedLater(fieldset) {
    clearTimeout(this.timers.get(fieldset));
    this.timers.set(fieldset, setTimeout(() => this.changed(fieldset), TEXT_DELAY_MS));
    this.onDraft(fieldset.dataset.key);
  }

  /** Send every text still waiting for the typing pause, now. */
  flushPending() {
    for (const fieldset of [...this.timers.keys()]) this.changed(fieldset);
  }

  /** Show an answer that is not on the server yet (restored from a closed tab's storage). */
  show(key, answer) {
    const fieldset = this.fieldsets.find((f) => f.dataset.key === key);
    if (!fieldset || !answer) return;
    const set = (name, value) => {
      for (const input of fieldset.querySelectorAll(`input[name="${name}"]`)) {
        input.checked = value !== null && value !== undefined && input.value === String(value);
      }
    };
    if (fieldset.dataset.kind === "text") {
      fieldset.querySelector("textarea").value = answer.text || "";
      return;
    }
    if (fieldset.dataset.kind === "finding") {
      set(`q-${key}-present`, answer.present === true ? "yes" : answer.present === false ? "no" : null);
    }
    set(`q-${key}`, answer.value);
    this.syncFinding(fieldset);
  }

  /** A number key: answer the active question. Returns whether the key was used. */
  numberKey(digit) {
    const fieldset = this.active && !this.active.disabled ? this.active : this.firstIncomplete();
    if (!fieldset || fieldset.dataset.kind === "text") return false;
    const key = fieldset.dataset.key;
    const pick = (name, value) => {
      const input = fieldset.querySelector(`input[name="${name}"][value="${value}"]`);
      if (input) input.checked = true;
      return Boolean(input);
    };
    let used = false;
    if (fieldset.dataset.kind === "finding") {
      if (digit === 0) used = pick(`q-${key}-present`, "no");
      else {
        used = pick(`q-${key}-present`, "yes");
        if (fieldset.querySelector(".confidence")) used = pick(`q-${key}`, String(digit)) && used;
      }
    } else {
      used = pick(`q-${key}`, String(digit));
    }
    if (!used) return false;
    this.changed(fieldset);
    if (this.isComplete(fieldset)) this.advanceFrom(fieldset);
    return true;
  }

  /** The unanswered required questions' texts. */
  missingRequired() {
    return this.missingFieldsets().map((f) => f.querySelector("legend").textContent.replace("(required)", "").trim());
  }

  /** The fieldsets of the required questions not (fully) answered yet. */
  missingFieldsets() {
    return this.fieldsets.filter((f) => !f.disabled && "required" in f.dataset && !this.isComplete(f));
  }

  /**
   * Before a submit: show "Please answer …" inside every required question left open (its
   * answer marked aria-invalid) and move the focus to the first. Returns whether any was open.
   */
  checkRequired() {
    const missing = this.missingFieldsets();
    for (const fieldset of missing) this.setError(fieldset, MISSING_ANSWER);
    if (!missing.length) return false;
    const first = missing[0];
    first.scrollIntoView({ block: "nearest" });
    (first.querySelector("input:not(:checked), textarea") || first.querySelector("input"))?.focus();
    this.activate(first);
    return true;
  }

  /** Show `message` in the fieldset's own error text (an empty one clears it). */
  setError(fieldset, message) {
    const box = fieldset.querySelector(".question-error");
    fieldset.classList.toggle("invalid", Boolean(message));
    for (const answer of fieldset.querySelectorAll("[role=radiogroup], textarea")) {
      if (message) answer.setAttribute("aria-invalid", "true");
      else answer.removeAttribute("aria-invalid");
    }
    if (box) {
      box.textContent = message;
      box.hidden = !message;
    }
  }
}
