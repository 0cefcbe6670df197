// Reading telemetry for one page visit: active time (idle excluded), active time at the
// first mark, slices shown and window/level changes. The figures are cumulative; the
// workstation reports them now and then under the visit's id (the server keeps the largest).

const TICK_MS = 1000;

export class Telemetry {
  /** @param {object} options  idleMs: no input for this long counts as idle */
  constructor({ idleMs = 60000 } = {}) {
    this.idleMs = idleMs;
    this.activeMs = 0;
    this.firstMarkMs = null;
    this.slices = new Set();
    this.windowChanges = 0;
    this.lastInput = performance.now();
    this.lastTick = performance.now();
    this.changed = true;
    for (const type of ["pointerdown", "pointermove", "wheel", "keydown"]) {
      window.addEventListener(type, () => this.activity(), { passive: true, capture: true });
    }
    setInterval(() => this.tick(), TICK_MS);
  }

  /** The reader did something: the clock runs for the next `idleMs`. */
  activity() {
    this.tick();
    this.lastInput = performance.now();
  }

  tick() {
    const now = performance.now();
    const visible = document.visibilityState === "visible";
    // Count the time since the last tick only while visible and not idle.
    const activeUntil = Math.min(now, this.lastInput + this.idleMs);
    if (visible && activeUntil > this.lastTick) {
      this.activeMs += activeUntil - this.lastTick;
      this.changed = true;
    }
    this.lastTick = now;
  }

  sliceShown(index) {
    if (!this.slices.has(index)) {
      this.slices.add(index);
      this.changed = true;
    }
  }

  windowChanged() {
    this.windowChanges += 1;
    this.changed = true;
  }

  markPlaced() {
    if (this.firstMarkMs === null) {
      this.tick();
      this.firstMarkMs = Math.round(this.activeMs);
      this.changed = true;
    }
  }

  /** The visit's figures so far, as the API takes them. */
  report() {
    this.tick();
    this.changed = false;
    return {
      active_ms: Math.round(this.activeMs),
      first_mark_ms: this.firstMarkMs,
      slices: [...this.slices].sort((a, b) => a - b),
      window_changes: this.windowChanges,
    };
  }
}
