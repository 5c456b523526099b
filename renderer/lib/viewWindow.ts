// The window of a large graph that xyflow is given: the nodes around the view, not all of them.
// xyflow walks every node and edge it holds on each frame of a pan to find those in view; a window
// 1.5 times the largest view of the zoom's band (bands of 2^¼) each way, centred on the view's centre
// rounded to an eighth of that view, always holds the view (at most ½ + 1/16 from the window's
// centre, which reaches ¾) and changes only when the centre moves an eighth of a view or the zoom
// leaves its band: not on every frame.

/** The window for a viewport transform (tx, ty, zoom) of a `width` × `height` pane, as a key that changes rarely. */
export function windowKey(tx: number, ty: number, zoom: number, width: number, height: number): string {
  const band = Math.floor(Math.log2(zoom) * 4);
  const zmin = 2 ** (band / 4);
  return `${band},${Math.round(((width / 2 - tx) / zoom) * ((8 * zmin) / width))},${Math.round(((height / 2 - ty) / zoom) * ((8 * zmin) / height))}`;
}

/** The window's rectangle in graph coordinates. */
export function windowBounds(key: string, width: number, height: number): { x0: number; y0: number; x1: number; y1: number } {
  const [band, kx, ky] = key.split(",").map(Number) as [number, number, number];
  const zmin = 2 ** (band / 4);
  const vw = width / zmin;
  const vh = height / zmin;
  return { x0: (kx / 8 - 0.75) * vw, x1: (kx / 8 + 0.75) * vw, y0: (ky / 8 - 0.75) * vh, y1: (ky / 8 + 0.75) * vh };
}
