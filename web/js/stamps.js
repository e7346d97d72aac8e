// Stamp controls and geometry: the style picker (thumbnails from GET /models/{id}), the size slider (a percentage
// of the style's natural size), and the stamp centres of a drag (the server's rule: the first point, then one
// every stamp width along the path; ganpaint.stamps.place.row_centres).
//
// StampControls dispatches "change" {key: "style"|"size"} and holds no painting state beyond what it shows.

export class StampControls extends EventTarget {
  constructor(root) {
    super();
    this.box = root.querySelector("#stamp-controls");
    this.picker = root.querySelector("#style-picker");
    this.slider = root.querySelector("#stamp-size");
    this.out = root.querySelector("#stamp-size-value");
    this.context = root.querySelector("#stamp-context");
    this.styles = [];
    this.resolution = 64;
    this.slider.addEventListener("input", () => {
      this.out.textContent = `${this.slider.value}%`;
      this.dispatchEvent(new CustomEvent("change", { detail: { key: "size" } }));
    });
  }

  /** concept: a ConceptSummary ({styles: [{index, members, natural_size, thumbnail}]}); shows its styles (those the
   * server offers: near-invisible ones are left out, so an index is not a position in the list). */
  setConcept(concept, resolution) {
    const same = JSON.stringify(concept?.styles ?? []) === JSON.stringify(this.styles);
    this.styles = concept?.styles ?? [];
    this.resolution = resolution;
    if (same) return;
    this.picker.replaceChildren();
    for (const s of this.styles) {
      const label = document.createElement("label");
      label.className = "style-choice";
      const [w, h] = s.natural_size.map((v) => Math.round(v));
      label.title = `style ${s.index + 1}: ${s.members} instances, natural size ${w} x ${h} px`;
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "stamp-style";
      input.value = String(s.index);
      input.setAttribute("aria-label", label.title);
      input.addEventListener("change", () => this.dispatchEvent(new CustomEvent("change", { detail: { key: "style" } })));
      const img = document.createElement("img");
      img.src = s.thumbnail;
      img.alt = "";
      img.width = 40;
      img.height = 40;
      label.append(input, img);
      this.picker.append(label);
    }
    this.setStyle(concept?.default_style ?? 0); // the measured best style (else the largest)
    this.slider.value = "100"; // a new concept starts at its natural size
    this.out.textContent = "100%";
  }

  /** "respect" (default: the unit brush where the concept does not belong) or "ignore" (force the template). */
  get contextRule() {
    return this.context?.checked === false ? "ignore" : "respect";
  }

  get available() {
    return this.styles.length > 0;
  }

  show(on) {
    this.box.hidden = !on;
  }

  get style() {
    const input = this.picker.querySelector('input[name="stamp-style"]:checked');
    return input ? Number(input.value) : null;
  }

  setStyle(index) {
    const input = this.picker.querySelector(`input[name="stamp-style"][value="${index}"]`);
    if (input) input.checked = true;
  }

  /** [w, h] of a stamp in 0..1 of the image width: the style's natural size times the slider. */
  get size() {
    const s = this.styles.find((x) => x.index === this.style) ?? this.styles[0];
    if (!s) return null;
    const k = Number(this.slider.value) / 100;
    return s.natural_size.map((v) => Math.min(1, Math.max(1e-3, (v * k) / this.resolution)));
  }
}

/** Stamp centres along a polyline: the first point, then one every `spacing` of path length. */
export function rowCentres(points, spacing) {
  const out = [points[0]];
  let carried = 0;
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    const seg = Math.hypot(x1 - x0, y1 - y0);
    let pos = spacing - carried;
    while (pos <= seg && out.length < 64) {
      const t = pos / seg;
      out.push([x0 + t * (x1 - x0), y0 + t * (y1 - y0)]);
      pos += spacing;
    }
    carried = seg - (pos - spacing);
  }
  return out;
}
