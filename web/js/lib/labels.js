// Collision-aware placement of the small text labels the editors draw next to points.
// Pure: callers measure the text; this picks a box per label that stays inside the canvas and
// overlaps neither another label nor a point marker, or leaves the label out.

/** Boxes {x, y, w, h} (top-left, size) overlap when their interiors intersect. */
export function boxesOverlap(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

function inside(box, bounds) {
  return box.x >= bounds.x && box.y >= bounds.y && box.x + box.w <= bounds.x + bounds.w && box.y + box.h <= bounds.y + bounds.h;
}

/** Candidate top-left corners around an anchor, best first: right-above, right-below, left-…, above, below. */
function candidates(ax, ay, r, w, h, rings) {
  const out = [];
  for (let k = 0; k < rings; k++) {
    const d = r + 2 + k * h;
    out.push([ax + d, ay - d - h + r], [ax + d, ay + d - r], [ax - d - w, ay - d - h + r], [ax - d - w, ay + d - r],
      [ax - w / 2, ay - d - h], [ax - w / 2, ay + d], [ax + d, ay - h / 2], [ax - d - w, ay - h / 2]);
  }
  return out;
}

/**
 * Place labels.
 * @param {Array<{id: any, x: number, y: number, r?: number, texts: Array<{text: string, w: number}>,
 *   h: number, priority?: number}>} requests  anchors (point centres) and text variants, longest first
 * @param {{x: number, y: number, w: number, h: number}} bounds  the drawable area
 * @param {Array<{x: number, y: number, w: number, h: number}>} obstacles  boxes to keep clear
 *   (point markers, notes already drawn)
 * @returns {Array<{id: any, text: string, x: number, y: number, w: number, h: number}>} placed
 *   labels, in request order of priority; a label with no free spot is left out.
 */
export function placeLabels(requests, bounds, obstacles = [], rings = 3) {
  const order = requests.map((q, i) => [q, i]).sort((a, b) => (b[0].priority || 0) - (a[0].priority || 0) || a[1] - b[1]);
  const taken = obstacles.slice();
  const placed = [];
  for (const [q] of order) {
    let found = null;
    for (const variant of q.texts) {
      for (const [x, y] of candidates(q.x, q.y, q.r || 0, variant.w, q.h, rings)) {
        const box = { x, y, w: variant.w, h: q.h };
        if (!inside(box, bounds)) continue;
        if (taken.some((o) => boxesOverlap(box, o))) continue;
        found = { id: q.id, text: variant.text, ...box };
        break;
      }
      if (found) break;
    }
    if (found) {
      placed.push(found);
      taken.push(found);
    }
  }
  return placed;
}

/** Greedy line wrap of words into lines no wider than maxW (`measure(text)` gives a width). */
export function wrapText(text, maxW, measure) {
  const lines = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const next = line ? `${line} ${word}` : word;
    if (line && measure(next) > maxW) {
      lines.push(line);
      line = word;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}
