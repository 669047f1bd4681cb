// The Blendshapes panel: the first face's 52 scores as named bars in groups (eyes, brows, jaw,
// mouth, cheeks and nose, other; see avatar_mapping.js), or a hint when the session gives none
// (the mesh model, or no face).

import { BLENDSHAPE_NAMES } from './lib/speakup.js';
import { groupBlendshapes } from './avatar_mapping.js';

export class BlendshapesPanel {
  constructor(container, hint) {
    this.container = container;
    this.hint = hint;
    this.updates = 0; // updates that showed scores
    this.bars = []; // by score index: {row, fill, value}
    for (const group of groupBlendshapes(BLENDSHAPE_NAMES)) {
      const section = document.createElement('div');
      section.className = 'bs-group';
      const title = document.createElement('h3');
      title.textContent = group.title;
      section.append(title);
      for (const { name, index } of group.entries) {
        const row = document.createElement('div');
        row.className = 'bs-row';
        row.dataset.name = name;
        const label = document.createElement('span');
        label.className = 'bs-name';
        label.textContent = name;
        const track = document.createElement('span');
        track.className = 'bs-bar';
        const fill = document.createElement('span');
        fill.className = 'bs-fill';
        track.append(fill);
        const value = document.createElement('span');
        value.className = 'bs-value';
        value.textContent = '–';
        row.append(label, track, value);
        section.append(row);
        this.bars[index] = { row, fill, value };
      }
      container.append(section);
    }
    this.show(null, '');
  }

  // scores: the face's blendshapes (52, or empty); model: the session's model, for the hint.
  show(scores, model) {
    const has = Boolean(scores && scores.length === this.bars.length);
    this.container.hidden = !has;
    this.hint.hidden = has;
    if (!has) {
      this.hint.textContent = model === 'landmarker'
        ? 'No face: the scores show when the landmarker finds one.'
        : 'Blendshapes need the landmarker model: choose "landmarker" under Model.';
      return;
    }
    this.updates += 1;
    for (let i = 0; i < this.bars.length; ++i) {
      const v = Math.min(1, Math.max(0, scores[i]));
      const bar = this.bars[i];
      bar.fill.style.width = `${(100 * v).toFixed(1)}%`;
      bar.value.textContent = v.toFixed(2);
      bar.row.dataset.value = v.toFixed(3);
    }
  }
}
