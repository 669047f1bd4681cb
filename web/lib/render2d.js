// 2D overlay over the live video: landmark points, the MediaPipe contours (mesh_contours.js), the
// face box and its track id. The canvas takes the result's frame size as its pixel size and CSS
// stretches it over the video, so landmark pixels land on the video's pixels.

import { CONTOUR_GROUPS } from './mesh_contours.js';

export class Overlay2D {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.drawn = 0;
  }

  resize(width, height) {
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
  }

  clear() {
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
  }

  // mirrored: the canvas is shown flipped (selfie view); labels are drawn flipped back.
  draw(result, { points = true, contours = true, boxes = true, mirrored = false } = {}) {
    if (!result || !result.width || !result.height) return;
    this.resize(result.width, result.height);
    const ctx = this.ctx;
    ctx.clearRect(0, 0, result.width, result.height);
    const unit = Math.max(1, result.width / 640);
    for (const face of result.faces) {
      const p = face.landmarks;
      const count = face.landmarkCount ?? p.length / 3;
      if (contours) {
        ctx.lineWidth = 1.2 * unit;
        ctx.globalAlpha = 0.85;
        for (const group of CONTOUR_GROUPS) {
          ctx.strokeStyle = group.color;
          ctx.beginPath();
          for (const [a, b] of group.edges) {
            if (a >= count || b >= count) continue;
            ctx.moveTo(p[3 * a], p[3 * a + 1]);
            ctx.lineTo(p[3 * b], p[3 * b + 1]);
          }
          ctx.stroke();
        }
      }
      if (points) {
        ctx.globalAlpha = 0.9;
        ctx.fillStyle = '#7CFC9A';
        const size = 1.6 * unit;
        for (let i = 0; i < count; ++i) {
          ctx.fillRect(p[3 * i] - size / 2, p[3 * i + 1] - size / 2, size, size);
        }
      }
      if (boxes) {
        const b = face.box;
        ctx.globalAlpha = 0.7;
        ctx.strokeStyle = '#ffd166';
        ctx.lineWidth = unit;
        ctx.strokeRect(b.x, b.y, b.width, b.height);
        ctx.globalAlpha = 1;
        ctx.fillStyle = '#ffd166';
        ctx.font = `${Math.round(12 * unit)}px system-ui, sans-serif`;
        const label = `#${face.id} ${(face.score * 100).toFixed(0)}%`;
        const y = Math.max(12 * unit, b.y - 4 * unit);
        ctx.save();
        if (mirrored) {
          ctx.translate(b.x + b.width - 2 * unit, y);
          ctx.scale(-1, 1);
        } else {
          ctx.translate(b.x + 2 * unit, y);
        }
        ctx.fillText(label, 0, 0);
        ctx.restore();
      }
    }
    ctx.globalAlpha = 1;
    this.drawn += 1;
  }
}
