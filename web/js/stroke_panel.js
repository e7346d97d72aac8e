// The stroke list as a panel: one row per stroke (concept colour, name, mode, strength) with a toggle and
// a delete button. A view of StrokeList: it re-renders on every "change" and calls back into the list.

import { STROKE_KINDS } from "./stroke_kinds.js";

export class StrokePanel {
  constructor(listEl, strokes, colourOf) {
    this.el = listEl;
    this.strokes = strokes;
    this.colourOf = colourOf;
    strokes.addEventListener("change", () => this.render());
    this.el.addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-stroke-action]");
      if (!button) return;
      const id = Number(button.closest("li").dataset.strokeId);
      if (button.dataset.strokeAction === "delete") this.strokes.remove(id);
      else this.strokes.toggle(id);
    });
    this.render();
  }

  render() {
    const rows = this.strokes.strokes.map((s, i) => {
      const li = document.createElement("li");
      li.dataset.strokeId = String(s.id);
      li.className = `stroke-row ${s.mode}${s.enabled ? "" : " disabled"}`;
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.setProperty("--concept-color", this.colourOf(s.concept));
      swatch.setAttribute("aria-hidden", "true");
      const text = document.createElement("span");
      text.className = "stroke-text";
      const kind = STROKE_KINDS[s.mode];
      const verb = kind?.word ?? s.mode;
      text.textContent = `${i + 1}. ${verb} ${s.concept} ${kind ? kind.detail(s) : `(${s.strength})`}`;
      const toggle = document.createElement("button");
      toggle.type = "button";
      toggle.dataset.strokeAction = "toggle";
      toggle.className = "icon";
      toggle.setAttribute("aria-pressed", String(s.enabled));
      toggle.setAttribute("aria-label", `${s.enabled ? "Hide" : "Show"} stroke ${i + 1} (${verb} ${s.concept})`);
      toggle.textContent = s.enabled ? "◉" : "○";
      const del = document.createElement("button");
      del.type = "button";
      del.dataset.strokeAction = "delete";
      del.className = "icon";
      del.setAttribute("aria-label", `Delete stroke ${i + 1} (${verb} ${s.concept})`);
      del.textContent = "✕";
      li.append(swatch, text, toggle, del);
      return li;
    });
    if (!rows.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "No strokes yet: pick a concept and paint on the image.";
      rows.push(li);
    }
    this.el.replaceChildren(...rows);
  }
}
