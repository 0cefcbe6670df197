// A small store: one page's state in one object, changed only through named events, and
// named actions that one module provides and the others dispatch.
//
//   const store = new Store({
//     state: { viewer: null, viewerReady: false },
//     events: ["viewer-created", "viewer-ready"],
//     actions: ["set-plane"],
//   });
//   store.on("viewer-ready", () => ...);                       // subscribe to an event
//   store.update("viewer-ready", { viewerReady: true });       // change the state, then announce it
//   store.provide("set-plane", (plane) => viewer.setPlane(plane));
//   store.dispatch("set-plane", "coronal");                    // the provider's result
//
// The names are declared up front: an event, action or state field that was not is an error,
// so a misspelt name fails at once instead of doing nothing.

export class Store {
  #state;
  #listeners = new Map(); // event -> Set of listeners
  #providers = new Map(); // action -> handler (null until provided)

  /**
   * @param {object} options
   * @param {object} options.state      the fields and their initial values
   * @param {string[]} [options.events]  the events `update`, `emit` and `on` may name
   * @param {string[]} [options.actions] the actions `provide` and `dispatch` may name
   */
  constructor({ state, events = [], actions = [] }) {
    this.#state = { ...state };
    for (const name of events) this.#listeners.set(name, new Set());
    for (const name of actions) this.#providers.set(name, null);
  }

  /** The value of one state field. */
  get(key) {
    if (!(key in this.#state)) throw new Error(`state.js: no state field "${key}"`);
    return this.#state[key];
  }

  /** A read-only snapshot of the whole state. */
  get state() {
    return Object.freeze({ ...this.#state });
  }

  /** Change state fields, then emit `event` with the change. */
  update(event, patch) {
    this.#eventListeners(event);
    for (const key of Object.keys(patch)) {
      if (!(key in this.#state)) throw new Error(`state.js: no state field "${key}"`);
    }
    Object.assign(this.#state, patch);
    this.emit(event, patch);
  }

  /** Call `listener(detail, store)` on every `event`; returns a function that unsubscribes it. */
  on(event, listener) {
    const listeners = this.#eventListeners(event);
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  emit(event, detail = {}) {
    for (const listener of [...this.#eventListeners(event)]) listener(detail, this);
  }

  /** Be the one handler of `action`. */
  provide(action, handler) {
    this.#checkAction(action);
    if (this.#providers.get(action)) throw new Error(`state.js: action "${action}" is already provided`);
    this.#providers.set(action, handler);
  }

  /** Run `action`'s handler and return its result; undefined while no module provides it. */
  dispatch(action, ...args) {
    this.#checkAction(action);
    const handler = this.#providers.get(action);
    return handler ? handler(...args) : undefined;
  }

  #eventListeners(event) {
    const listeners = this.#listeners.get(event);
    if (!listeners) throw new Error(`state.js: no event "${event}"`);
    return listeners;
  }

  #checkAction(action) {
    if (!this.#providers.has(action)) throw new Error(`state.js: no action "${action}"`);
  }
}
