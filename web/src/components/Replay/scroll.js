// Brings `el` into view inside its scrolling `container` only: the page
// itself does not move (Element.scrollIntoView would scroll it too).
export function revealWithin(container, el, { block = 'nearest', margin = 8 } = {}) {
  if (!container || !el) return;
  const c = container.getBoundingClientRect();
  const r = el.getBoundingClientRect();
  if (block === 'end') {
    container.scrollTop += r.bottom - c.bottom + margin;
  } else if (r.top < c.top) {
    container.scrollTop += r.top - c.top - margin;
  } else if (r.bottom > c.bottom) {
    container.scrollTop += r.bottom - c.bottom + margin;
  }
}
