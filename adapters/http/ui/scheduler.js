// Coalesces any number of changes into one render per animation frame: frames and timers
// only mark what changed; the DOM is touched here, at most once per frame.

export function frameScheduler(render) {
  let queued = false;
  return function schedule() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      render();
    });
  };
}
