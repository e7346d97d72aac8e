// Pictures for slides: the painting, or the original and the painting side by side, as a PNG at a display size.
//
// The frames are the model's own (64 px for the embedded model); they are scaled to `size` px per picture with
// nearest-neighbour ("pixels": every model pixel a sharp square) or smooth (the browser's high-quality) resampling.

/** A PNG Blob of the bitmaps side by side, each `size` px square, `gap` px of white between them. */
export function composePng(bitmaps, { size, smooth = false }) {
  const gap = bitmaps.length > 1 ? Math.max(2, Math.round(size / 32)) : 0;
  const canvas = document.createElement("canvas");
  canvas.width = bitmaps.length * size + (bitmaps.length - 1) * gap;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = smooth;
  ctx.imageSmoothingQuality = "high";
  bitmaps.forEach((b, i) => ctx.drawImage(b, i * (size + gap), 0, size, size));
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("PNG export failed"))), "image/png"),
  );
}
