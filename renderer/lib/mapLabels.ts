// Labels as maps place them: when a graph's names would be too small at the zoom the view needs
// (a 300-node graph of one module at Fit), names are written at a readable size for as many nodes
// as fit without overlapping, the most important first; the rest show on hover.

/** A node that may get a label: its top left corner in the graph's coordinates, its name, its rank. */
export interface LabelCandidate {
  id: string;
  x: number;
  y: number;
  name: string;
  /** higher first: selected, hovered, their neighbours, roots, then by fan-in */
  priority: number;
}

/** A label placed: its box in screen pixels relative to the graph's origin at this zoom (add the pan). */
export interface PlacedLabel {
  id: string;
  name: string;
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface PlaceOptions {
  zoom: number;
  nodeWidth: number;
  nodeHeight: number;
  /** the label's height on screen (font size and padding) */
  height: number;
  /** the label's width on screen for this name (text and padding) */
  measure: (name: string) => number;
  /** the free space kept between two labels, in screen pixels */
  gap?: number;
  /** at most this many labels */
  max?: number;
}

/**
 * Greedy placement by priority (ties by name, so the choice is stable), as maps label places: each
 * candidate's label goes centred on its node, or else beside it (right, left, below, above, touching
 * it), at the first of those spots that overlaps no label kept before it; a node with no free spot
 * gets no label. A grid of buckets keeps the overlap test near-linear in the number of candidates.
 */
export function placeLabels(candidates: readonly LabelCandidate[], o: PlaceOptions): PlacedLabel[] {
  const gap = o.gap ?? 2;
  const order = [...candidates].sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const cell = 64;
  const grid = new Map<string, PlacedLabel[]>();
  const placed: PlacedLabel[] = [];
  const h = o.height;
  const cells = (b: PlacedLabel): string[] => {
    const out: string[] = [];
    for (let gx = Math.floor((b.left - gap) / cell); gx <= Math.floor((b.left + b.width + gap) / cell); gx++)
      for (let gy = Math.floor((b.top - gap) / cell); gy <= Math.floor((b.top + h + gap) / cell); gy++) out.push(`${gx},${gy}`);
    return out;
  };
  const free = (b: PlacedLabel): boolean => {
    for (const k of cells(b))
      for (const p of grid.get(k) ?? [])
        if (b.left < p.left + p.width + gap && p.left < b.left + b.width + gap && b.top < p.top + p.height + gap && p.top < b.top + b.height + gap)
          return false;
    return true;
  };
  for (const c of order) {
    if (o.max !== undefined && placed.length >= o.max) break;
    const width = Math.ceil(o.measure(c.name));
    const x0 = c.x * o.zoom;
    const y0 = c.y * o.zoom;
    const x1 = (c.x + o.nodeWidth) * o.zoom;
    const y1 = (c.y + o.nodeHeight) * o.zoom;
    const cx = (x0 + x1) / 2;
    const cy = (y0 + y1) / 2;
    const spots: [number, number][] = [
      [cx - width / 2, cy - h / 2],
      [x1, cy - h / 2],
      [x0 - width, cy - h / 2],
      [cx - width / 2, y1],
      [cx - width / 2, y0 - h],
    ];
    for (const [left, top] of spots) {
      const box: PlacedLabel = { id: c.id, name: c.name, left, top, width, height: h };
      if (!free(box)) continue;
      placed.push(box);
      for (const k of cells(box)) {
        const list = grid.get(k);
        if (list) list.push(box);
        else grid.set(k, [box]);
      }
      break;
    }
  }
  return placed;
}
