// Posting a page's form after its script has intercepted the submit event (once everything is saved).

/**
 * Post `form` natively, as the `button` that was clicked would have (its name and value go
 * along, so the server can tell "save" from "submit").
 * @param {HTMLFormElement} form
 * @param {HTMLButtonElement | null} button  the submit event's `submitter`
 */
export function postForm(form, button) {
  if (button?.name) {
    const hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = button.name;
    hidden.value = button.value;
    form.append(hidden);
  }
  HTMLFormElement.prototype.submit.call(form); // form.submit may be the button named "submit"
}

/**
 * Submit `form` only once everything is saved: its submit event waits for `queue` to flush,
 * then posts the form as the clicked button would have. While changes are unsaved, leaving
 * the page asks the browser's "Leave site?" first (not while the form is being posted).
 * @param {HTMLFormElement} form
 * @param {object} options
 * @param {import("./autosave.js").SaveQueue} options.queue
 * @param {(button: HTMLButtonElement | null) => boolean} [options.refuse]  true: do not submit
 *   (the page has told the user why)
 * @param {() => void} [options.prepare]  queue what the page still holds back, before the flush
 */
export function submitWhenSaved(form, { queue, refuse = () => false, prepare = () => {} }) {
  let submitting = false;
  form.addEventListener("submit", async (event) => {
    if (submitting) return;
    event.preventDefault();
    const button = event.submitter;
    if (refuse(button)) return;
    prepare();
    await queue.flush();
    submitting = true;
    postForm(form, button);
  });
  window.addEventListener("beforeunload", (event) => {
    if (!queue.idle && !submitting) event.preventDefault();
  });
}
