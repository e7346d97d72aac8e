// The image picker: a strip of curated image ids with thumbnails, a "random" button and a box for any id.
//
// Gallery dispatches "select" {image}. Thumbnails arrive later than the buttons (they are rendered by the
// server), so a slow server still shows a usable strip of ids.

export const MAX_IMAGE_ID = 99999;

export class Gallery extends EventTarget {
  constructor(root) {
    super();
    this.strip = root.querySelector("#gallery-strip");
    this.form = root.querySelector("#image-form");
    this.input = root.querySelector("#image-id");
    this.current = null;
    root.querySelector("#random-image").addEventListener("click", () => this.select(randomImageId()));
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const n = Number(this.input.value);
      if (!Number.isInteger(n) || n < 0 || n > MAX_IMAGE_ID) {
        this.input.setCustomValidity(`Image id must be a whole number 0..${MAX_IMAGE_ID}`);
        this.input.reportValidity();
        return;
      }
      this.input.setCustomValidity("");
      this.select(n);
    });
    this.input.addEventListener("input", () => this.input.setCustomValidity(""));
  }

  /** ids: the model's curated gallery. */
  setIds(ids) {
    this.strip.replaceChildren();
    for (const id of ids) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "thumb";
      button.dataset.image = String(id);
      button.setAttribute("aria-label", `Image ${id}`);
      button.title = `Image ${id}`;
      const img = document.createElement("img");
      img.alt = "";
      img.width = 64;
      img.height = 64;
      const caption = document.createElement("span");
      caption.textContent = String(id);
      button.append(img, caption);
      button.addEventListener("click", () => this.select(id));
      this.strip.append(button);
    }
    this.mark(this.current);
  }

  /** thumbs: [{id, src}] */
  setThumbnails(thumbs) {
    for (const { id, src } of thumbs) {
      const img = this.strip.querySelector(`:scope > [data-image="${id}"] img`);
      if (img) img.src = src;
    }
  }

  /** Show `image` as chosen without dispatching (e.g. a share link opened it). */
  mark(image) {
    this.current = image;
    this.input.value = image === null ? "" : String(image);
    for (const b of this.strip.querySelectorAll(".thumb")) {
      if (Number(b.dataset.image) === image) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    }
  }

  select(image) {
    this.mark(image);
    this.dispatchEvent(new CustomEvent("select", { detail: { image } }));
  }
}

export function randomImageId() {
  return Math.floor(Math.random() * (MAX_IMAGE_ID + 1));
}
