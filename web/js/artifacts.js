// The "Remove artifacts" checkbox (#remove-artifacts): the model option "artifacts" ("removed" | "kept") of
// /generate, /intervene and the websocket "open" (docs/api.md, docs/dissection.md "Artifact units"). The choice
// persists across reloads (localStorage, as settings.js keeps the view settings); until the user ticks or
// unticks it, the model's measured default applies (GET /models/{id} -> artifacts.default). A model without an
// artifact ranking, and an uploaded picture, always render "kept" (the box is disabled for such a model).
//
//   const artifacts = new ArtifactToggle(root);  artifacts.setModel(info);  artifacts.valueFor(image)
// dispatches "change" {value} when the user toggles it.

export const ARTIFACTS_KEY = "ganpaint.artifacts";

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export class ArtifactToggle extends EventTarget {
  constructor(root) {
    super();
    this.box = root.querySelector("#remove-artifacts");
    this.available = false;
    this.default = "kept";
    const stored = storage()?.getItem(ARTIFACTS_KEY);
    this.chosen = stored === "removed" || stored === "kept" ? stored : null; // null: the model's default
    this.box?.addEventListener("change", () => {
      this.chosen = this.box.checked ? "removed" : "kept";
      try {
        storage()?.setItem(ARTIFACTS_KEY, this.chosen);
      } catch {
        // storage full or disabled: the choice holds while the page is open
      }
      this.dispatchEvent(new CustomEvent("change", { detail: { value: this.value } }));
    });
  }

  /** A model's {available, default, layer, units} (GET /models/{id} "artifacts"). */
  setModel(info) {
    const a = info?.artifacts;
    this.available = Boolean(a?.available);
    this.default = a?.default === "removed" ? "removed" : "kept";
    if (!this.box) return;
    this.box.disabled = !this.available;
    this.box.checked = this.value === "removed";
    this.box.closest("label").title = this.available
      ? `Switch off the ${a.units.length} units of ${a.layer} whose images look least like real scenes (units ${a.units.join(", ")})`
      : "This model has no artifact ranking (ganpaint dissect --artifacts)";
  }

  /** "removed" or "kept" for this model. */
  get value() {
    return this.available ? (this.chosen ?? this.default) : "kept";
  }

  /** The option to send for an image key (uploads: none, they render as projected). */
  valueFor(image) {
    return typeof image === "string" && image.startsWith("upload:") ? undefined : this.value;
  }
}
