// One three.js canvas in a page element, shared by the 3D view and the avatar: renderer, scene,
// perspective camera, a root group mirrored like the video, the canvas sized with its element, and a
// frame drawn on the next animation frame once something marked the view dirty and the canvas is on
// screen (drawing a canvas nobody sees costs the CPU the camera's encoder needs: without a GPU,
// two off-screen views drawn at 30 fps tripled the round-trip latency). Without WebGL 2 the element
// shows a note instead and `available` is false.

import * as THREE from 'three';

export function webglAvailable() {
  try {
    const canvas = document.createElement('canvas');
    return canvas.getContext('webgl2') !== null; // three.js r163+ needs WebGL 2
  } catch {
    return false;
  }
}

export class ThreeCanvas {
  // camera: { fov, near, far, distance } (the camera looks down -z from (0, 0, distance)).
  constructor(container, { camera, unavailableNote }) {
    this.container = container;
    this.available = webglAvailable();
    this.dirty = true;
    this.frame = 0;
    this.rendered = 0;
    this.mirrored = true;
    if (!this.available) {
      const note = document.createElement('p');
      note.className = 'view3d-unavailable';
      note.textContent = unavailableNote;
      container.append(note);
      return;
    }
    this.renderer = new THREE.WebGLRenderer({ antialias: true, alpha: true });
    this.renderer.setPixelRatio(Math.min(2, window.devicePixelRatio || 1));
    container.append(this.renderer.domElement);
    this.scene = new THREE.Scene();
    this.camera = new THREE.PerspectiveCamera(camera.fov, 1, camera.near, camera.far);
    this.camera.position.set(0, 0, camera.distance);
    this.root = new THREE.Group(); // mirrored like the video; the subclass places it in the scene
    this.setMirrored(true);
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(container);
    this.resize();
    this.visible = true; // until the first intersection report says otherwise
    this.intersectionObserver = new IntersectionObserver((entries) => {
      const entry = entries[entries.length - 1];
      this.visible = entry.isIntersecting;
      if (this.visible) this.dirty = true;
    });
    this.intersectionObserver.observe(container);
    // The first frame comes after the subclass's constructor has built its scene.
    this.loop = () => {
      this.frame = requestAnimationFrame(this.loop);
      if (!this.dirty || !this.visible) return;
      this.dirty = false;
      this.renderer.render(this.scene, this.camera);
      this.rendered += 1;
      this.onRendered();
    };
    this.frame = requestAnimationFrame(this.loop);
  }

  // Called after each frame drawn (for counters the tests read).
  onRendered() {}

  setMirrored(mirrored) {
    this.mirrored = mirrored;
    if (!this.available) return;
    this.root.scale.x = mirrored ? -1 : 1;
    this.dirty = true;
  }

  resize() {
    const width = Math.max(1, this.container.clientWidth);
    const height = Math.max(1, this.container.clientHeight);
    this.renderer.setSize(width, height, true);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    this.dirty = true;
  }

  // The subclass frees its own geometries and materials, then calls this.
  dispose() {
    if (!this.available) return;
    cancelAnimationFrame(this.frame);
    this.resizeObserver.disconnect();
    this.intersectionObserver.disconnect();
    this.renderer.dispose();
  }
}
