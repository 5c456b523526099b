// Labels as maps place them (renderer/lib/mapLabels.ts): by priority, centred on the node or beside
// it, never overlapping; what finds no free spot gets no label.
import { describe, expect, it } from "vitest";
import { type LabelCandidate, placeLabels } from "../../renderer/lib/mapLabels.js";

// nodes 100 × 40 in the graph's coordinates, at zoom 0.5 (50 × 20 on screen); labels 12 px tall, 8 px per character
const opts = { zoom: 0.5, nodeWidth: 100, nodeHeight: 40, height: 12, gap: 0, measure: (name: string) => name.length * 8 };
const at = (id: string, x: number, y: number, priority = 0): LabelCandidate => ({ id, name: id, x, y, priority });

describe("placeLabels", () => {
  it("centres a lone label on its node, in screen pixels from the graph's origin", () => {
    // node a at (200, 100): on screen 100..150 × 50..70, centre (125, 60); label 4 × 8 = 32 wide
    expect(placeLabels([at("abcd", 200, 100)], opts)).toEqual([{ id: "abcd", name: "abcd", left: 109, top: 54, width: 32, height: 12 }]);
  });

  it("puts a label beside its node when its centre is taken: right, then left, then below, then above", () => {
    // three nodes at the same place: the first centred, the second to the right, the third to the left
    const placed = placeLabels([at("aa", 0, 0, 3), at("bb", 0, 0, 2), at("cc", 0, 0, 1), at("dd", 0, 0, 0)], opts);
    // node on screen 0..50 × 0..20, centre (25, 10); labels 16 wide
    expect(placed.map((p) => [p.id, p.left, p.top])).toEqual([
      ["aa", 17, 4],
      ["bb", 50, 4],
      ["cc", -16, 4],
      ["dd", 17, 20],
    ]);
  });

  it("keeps the higher priority when two labels would overlap, and drops a label with no free spot", () => {
    // nodes a, b, c on screen at y 0, 8, 16 (20 tall), labels 60 × 12: with a and c centred
    // (top 4 and 20) every spot of b's (centre 12, right, left, below 28, above -4) meets one of them
    const wide = { ...opts, measure: () => 60 };
    const placed = placeLabels([at("b", 0, 16, 0), at("a", 0, 0, 5), at("c", 0, 32, 4)], wide);
    expect(placed.map((p) => [p.id, p.left, p.top])).toEqual([
      ["a", -5, 4],
      ["c", -5, 20],
    ]);
    // b first: centred; a goes above its node, c below its node
    const first = placeLabels([at("b", 0, 16, 9), at("a", 0, 0, 5), at("c", 0, 32, 4)], wide);
    expect(first.map((p) => [p.id, p.left, p.top])).toEqual([
      ["b", -5, 12],
      ["a", -5, -12],
      ["c", -5, 36],
    ]);
  });

  it("orders equal priorities by name, and stops at max", () => {
    const placed = placeLabels([at("z", 0, 0), at("m", 400, 0), at("a", 800, 0)], { ...opts, max: 2 });
    expect(placed.map((p) => p.id)).toEqual(["a", "m"]);
  });

  it("places no two labels overlapping over a dense grid", () => {
    const cs: LabelCandidate[] = [];
    for (let x = 0; x < 20; x++) for (let y = 0; y < 20; y++) cs.push(at(`n${x}_${y}`, x * 60, y * 24, (x * 7 + y * 3) % 11));
    const placed = placeLabels(cs, opts);
    const overlapping: string[] = [];
    for (let i = 0; i < placed.length; i++)
      for (let j = i + 1; j < placed.length; j++) {
        const a = placed[i]!;
        const b = placed[j]!;
        if (a.left < b.left + b.width && b.left < a.left + a.width && a.top < b.top + b.height && b.top < a.top + a.height)
          overlapping.push(`${a.id} × ${b.id}`);
      }
    expect(overlapping).toEqual([]);
    // 400 nodes 30 × 12 px apart on screen, labels 40–48 × 12 px: some but far from all
    expect(placed.length).toBeGreaterThan(50);
    expect(placed.length).toBeLessThan(400);
  });
});
