/**
 * Draws the kernel logos (kernel/assets/logo-32x32.png and logo-64x64.png): a 3×3 convolution
 * filter — cells of varying warm intensity on a dark blue tile. Run: npx tsx kernel/make-logos.ts
 */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { encode } from "fast-png";

/** Intensities of the 3×3 filter cells (0..1), row-major. */
const WEIGHTS = [0.25, 0.6, 0.25, 0.6, 1.0, 0.6, 0.25, 0.6, 0.25];

export function drawLogo(size: number): Uint8Array {
  const data = new Uint8Array(size * size * 4);
  const margin = Math.round(size * 0.12);
  const gap = Math.max(1, Math.round(size / 32));
  const radius = size * 0.18;
  const cell = (size - 2 * margin - 2 * gap) / 3;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 4;
      // rounded-square background
      const dx = Math.max(radius - x - 0.5, x + 0.5 - (size - radius), 0);
      const dy = Math.max(radius - y - 0.5, y + 0.5 - (size - radius), 0);
      const inside = Math.hypot(dx, dy) <= radius;
      if (!inside) continue;
      let r = 0x1f,
        g = 0x3b,
        b = 0x57;
      const cx = Math.floor((x - margin) / (cell + gap));
      const cy = Math.floor((y - margin) / (cell + gap));
      const inCellX = x - margin - cx * (cell + gap) < cell;
      const inCellY = y - margin - cy * (cell + gap) < cell;
      if (cx >= 0 && cx < 3 && cy >= 0 && cy < 3 && inCellX && inCellY && x >= margin && y >= margin) {
        const w = WEIGHTS[cy * 3 + cx];
        r = Math.round(0x30 + w * (0xff - 0x30));
        g = Math.round(0x50 + w * (0xa5 - 0x50));
        b = Math.round(0x70 - w * 0x50);
      }
      data[i] = r;
      data[i + 1] = g;
      data[i + 2] = b;
      data[i + 3] = 255;
    }
  }
  return encode({ width: size, height: size, data, channels: 4, depth: 8 });
}

const here = dirname(fileURLToPath(import.meta.url));
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const size of [32, 64])
    writeFileSync(join(here, "assets", `logo-${size}x${size}.png`), drawLogo(size));
}
