// View and export settings that persist across reloads (localStorage): the mask overlay after a stroke, the view
// ("sharp": the refiner's 4x frame once a stroke ends, where the model has one; "pixels"; "smooth": the browser's
// scaling), for the canvas and exported pictures alike, and the exported picture's size.
//
// ViewSettings binds the selects #overlay-mode, #scaling and #export-size and dispatches "change" {key, value}.

export const SETTINGS_KEY = "ganpaint.settings";
export const OVERLAY_MODES = ["outline", "off", "fill"]; // the M key cycles through them in this order
const DEFAULTS = { overlay: "outline", scaling: "sharp", exportSize: "1024" };
const SELECTS = { overlay: "#overlay-mode", scaling: "#scaling", exportSize: "#export-size" };

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export class ViewSettings extends EventTarget {
  constructor(root) {
    super();
    this.values = { ...DEFAULTS };
    try {
      const stored = JSON.parse(storage()?.getItem(SETTINGS_KEY) ?? "{}");
      for (const key of Object.keys(DEFAULTS)) if (typeof stored[key] === "string") this.values[key] = stored[key];
    } catch {
      // unreadable: the defaults
    }
    this.selects = {};
    for (const [key, sel] of Object.entries(SELECTS)) {
      const el = root.querySelector(sel);
      if (!el) continue;
      this.selects[key] = el;
      if ([...el.options].some((o) => o.value === this.values[key])) el.value = this.values[key];
      else this.values[key] = el.value;
      el.addEventListener("change", () => this.set(key, el.value));
    }
  }

  get overlay() {
    return this.values.overlay;
  }

  /** "smooth" asks for the browser's resampling (screen and exports); "sharp" does where frames are refined (see
   * main.js: a model without a refiner shows pixels). */
  get smooth() {
    return this.values.scaling === "smooth";
  }

  /** Ask the server for refined (4x) frames when a stroke ends. */
  get sharp() {
    return this.values.scaling === "sharp";
  }

  /** The exported picture's side in pixels, or null for the model's own frame (exact bytes). */
  get exportSize() {
    const n = Number(this.values.exportSize);
    return Number.isInteger(n) && n > 0 ? n : null;
  }

  set(key, value) {
    this.values[key] = value;
    if (this.selects[key] && this.selects[key].value !== value) this.selects[key].value = value;
    try {
      storage()?.setItem(SETTINGS_KEY, JSON.stringify(this.values));
    } catch {
      // storage full or disabled: the setting holds while the page is open
    }
    this.dispatchEvent(new CustomEvent("change", { detail: { key, value } }));
  }

  cycleOverlay() {
    const i = OVERLAY_MODES.indexOf(this.overlay);
    this.set("overlay", OVERLAY_MODES[(i + 1) % OVERLAY_MODES.length]);
  }
}
