// Posting a page's form after its script has intercepted the submit event.

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
