// An asynchronous, cached probe: what a backend learns from the network (is the host
// reachable, which systems does it build), kept for a while and asked again in the background.
// Asking for the answer never waits: before the first probe ends it is "probing".

export interface ProbeResult {
  available: boolean;
  reason?: string;
  /** the systems the far side builds, when it said */
  systems?: string[];
}

export class CachedProbe {
  private last?: ProbeResult & { at: number };
  private running?: Promise<void>;

  constructor(
    /** `background`: nobody waits for this answer (it must not keep the process alive) */
    private readonly run: (background: boolean) => Promise<ProbeResult>,
    private readonly ttlMs = 30_000,
  ) {}

  /** The last answer, however old (undefined before the first probe ends). */
  get result(): ProbeResult | undefined {
    return this.last;
  }

  /** A probe is running now. */
  get probing(): boolean {
    return this.running !== undefined;
  }

  private fresh(): boolean {
    return this.last !== undefined && Date.now() - this.last.at < this.ttlMs;
  }

  /** The answer if a probe is due, started in the background; never waits. */
  peek(): ProbeResult | undefined {
    if (!this.fresh()) void this.probe(true);
    return this.last;
  }

  /** Probe unless the answer is fresh; one probe at a time. */
  probe(background = false): Promise<void> {
    if (this.fresh()) return Promise.resolve();
    if (!this.running) {
      this.running = this.run(background)
        .catch((e: Error): ProbeResult => ({ available: false, reason: e.message }))
        .then((r) => {
          this.last = { ...r, at: Date.now() };
        })
        .finally(() => (this.running = undefined));
    }
    if (background) return this.running;
    // Someone waits for this answer: keep the process alive until it comes (a probe started in
    // the background does not hold it open by itself).
    const hold = setInterval(() => undefined, 1 << 30);
    return this.running.finally(() => clearInterval(hold));
  }

  /** Forget the answer (a build found the far side gone): the next question probes again. */
  forget(): void {
    this.last = undefined;
  }
}
