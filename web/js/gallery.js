// The image picker: a strip of curated image ids with thumbnails, a "random" button and a box for any id.
//
// Gallery dispatches "select" {image}. Thumbnails arrive later than the buttons (they are rendered by the
// server), so a slow server still shows a usable strip of ids. When the strip is wider than its box it shows so:
// ‹ › buttons at its ends (disabled at the end reached) and a fade on the side with more (data-more="left right").

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
    this.addScrollHints();
  }

  addScrollHints() {
    const scroller = document.createElement("div");
    scroller.className = "gallery-scroller";
    this.strip.replaceWith(scroller);
    const arrow = (text, label, dir) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "gallery-arrow";
      b.textContent = text;
      b.setAttribute("aria-label", label);
      b.addEventListener("click", () => this.strip.scrollBy({ left: dir * this.strip.clientWidth * 0.8, behavior: "smooth" }));
      return b;
    };
    this.prev = arrow("‹", "Scroll the images left", -1);
    this.next = arrow("›", "Scroll the images right", 1);
    scroller.append(this.prev, this.strip, this.next);
    this.strip.addEventListener("scroll", () => this.updateScrollHints(), { passive: true });
    // a mouse wheel scrolls the strip sideways
    this.strip.addEventListener("wheel", (ev) => {
      if (this.strip.scrollWidth <= this.strip.clientWidth || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) return;
      ev.preventDefault();
      this.strip.scrollLeft += ev.deltaY;
    });
    new ResizeObserver(() => this.updateScrollHints()).observe(this.strip);
    this.updateScrollHints();
  }

  /** Scroll the strip (not the page) so that the thumbnail is in view. */
  reveal(thumb) {
    const s = this.strip; // position: relative, so offsetLeft is within the strip
    if (thumb.offsetLeft < s.scrollLeft || thumb.offsetLeft + thumb.offsetWidth > s.scrollLeft + s.clientWidth) {
      s.scrollLeft = thumb.offsetLeft - (s.clientWidth - thumb.offsetWidth) / 2;
    }
  }

  updateScrollHints() {
    const { scrollLeft, scrollWidth, clientWidth } = this.strip;
    const overflow = scrollWidth > clientWidth + 1;
    const left = overflow && scrollLeft > 1;
    const right = overflow && scrollLeft + clientWidth < scrollWidth - 1;
    this.prev.hidden = !overflow;
    this.next.hidden = !overflow;
    this.prev.disabled = !left;
    this.next.disabled = !right;
    this.strip.dataset.more = [left && "left", right && "right"].filter(Boolean).join(" ");
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
    this.updateScrollHints();
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
    this.input.value = Number.isInteger(image) ? String(image) : ""; // an upload has no id to show here
    for (const b of this.strip.querySelectorAll(".thumb")) {
      if (Number(b.dataset.image) === image) {
        b.setAttribute("aria-current", "true");
        this.reveal(b);
      } else {
        b.removeAttribute("aria-current");
      }
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
