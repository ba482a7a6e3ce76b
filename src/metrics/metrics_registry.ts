/**
 * A small Prometheus-text metrics registry: counters, gauges and histograms
 * with labels. Rendering follows the text exposition format 0.0.4.
 *
 * @module
 */

/** Label values by name. */
export type Labels = Readonly<Record<string, string>>;

type Kind = "counter" | "gauge" | "histogram";

interface Family {
  name: string;
  help: string;
  kind: Kind;
  buckets?: number[];
  series: Map<string, Series>;
  /** Fast path for callers that reuse one labels object (treated as immutable). */
  byObject: WeakMap<Labels, Series>;
}

interface Series {
  key: string;
  labels: Labels;
  value: number;
  counts?: number[];
  sum?: number;
}

/** Buckets in seconds for per-token latencies (TTFT, ITL), shared by worker and frontend. */
export const TOKEN_LATENCY_BUCKETS: readonly number[] = [
  0.0001,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** Default histogram buckets in seconds (latency-shaped). */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
];

function seriesKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}=${labels[k]}`).join(",");
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function renderLabels(labels: Labels, extra?: [string, string]): string {
  const parts = Object.keys(labels).sort().map((k) => `${k}="${escapeLabel(labels[k])}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/**
 * A registry of metric families.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "./metrics_registry.ts";
 * const m = new MetricsRegistry();
 * m.counter("sluice_requests_total", "Requests.").inc({ model: "m" });
 * console.assert(m.render().includes('sluice_requests_total{model="m"} 1'));
 * ```
 */
export class MetricsRegistry {
  #families = new Map<string, Family>();
  #collectors = new Set<() => void>();

  /** A monotonically increasing counter. */
  counter(
    name: string,
    help: string,
  ): { inc(labels?: Labels, by?: number): void; get(labels?: Labels): number } {
    const f = this.#family(name, help, "counter");
    return {
      inc: (labels = {}, by = 1) => {
        this.#series(f, labels).value += by;
      },
      get: (labels = {}) => f.series.get(seriesKey(labels))?.value ?? 0,
    };
  }

  /** A gauge that can go up and down. */
  gauge(name: string, help: string): {
    set(labels: Labels, value: number): void;
    add(labels: Labels, by: number): void;
    get(labels?: Labels): number;
    remove(labels: Labels): void;
  } {
    const f = this.#family(name, help, "gauge");
    return {
      set: (labels, value) => {
        this.#series(f, labels).value = value;
      },
      add: (labels, by) => {
        this.#series(f, labels).value += by;
      },
      get: (labels = {}) => f.series.get(seriesKey(labels))?.value ?? 0,
      remove: (labels) => {
        f.series.delete(seriesKey(labels));
      },
    };
  }

  /** A histogram with cumulative buckets, `_sum` and `_count`. */
  histogram(
    name: string,
    help: string,
    buckets: readonly number[] = DEFAULT_BUCKETS,
  ): { observe(labels: Labels, value: number): void; count(labels?: Labels): number } {
    const f = this.#family(name, help, "histogram", [...buckets]);
    return {
      observe: (labels, value) => {
        const s = this.#series(f, labels);
        const b = f.buckets!;
        for (let i = 0; i < b.length; i++) if (value <= b[i]) s.counts![i]++;
        s.sum! += value;
        s.value++;
      },
      count: (labels = {}) => f.series.get(seriesKey(labels))?.value ?? 0,
    };
  }

  /**
   * Registers `collect`, called at the start of every {@linkcode MetricsRegistry.render} to
   * refresh gauges read from elsewhere (an engine's KV usage). Returns its remover. A collector
   * that throws is skipped for that render.
   */
  addCollector(collect: () => void): () => void {
    this.#collectors.add(collect);
    return () => void this.#collectors.delete(collect);
  }

  /** The Prometheus text exposition of every family. */
  render(): string {
    for (const collect of this.#collectors) {
      try {
        collect();
      } catch {
        // A failing source leaves its gauges as they were.
      }
    }
    const lines: string[] = [];
    for (const f of this.#families.values()) {
      lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.kind}`);
      for (const s of f.series.values()) {
        if (f.kind !== "histogram") {
          lines.push(`${f.name}${renderLabels(s.labels)} ${s.value}`);
          continue;
        }
        f.buckets!.forEach((le, i) => {
          lines.push(
            `${f.name}_bucket${renderLabels(s.labels, ["le", String(le)])} ${s.counts![i]}`,
          );
        });
        lines.push(`${f.name}_bucket${renderLabels(s.labels, ["le", "+Inf"])} ${s.value}`);
        lines.push(`${f.name}_sum${renderLabels(s.labels)} ${s.sum}`);
        lines.push(`${f.name}_count${renderLabels(s.labels)} ${s.value}`);
      }
    }
    return lines.join("\n") + "\n";
  }

  #family(name: string, help: string, kind: Kind, buckets?: number[]): Family {
    const existing = this.#families.get(name);
    if (existing) {
      if (existing.kind !== kind) {
        throw new TypeError(
          `Cannot register metric "${name}" as ${kind}: it is a ${existing.kind}`,
        );
      }
      return existing;
    }
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) {
      throw new TypeError(`Cannot register metric "${name}": invalid Prometheus name`);
    }
    const f: Family = { name, help, kind, buckets, series: new Map(), byObject: new WeakMap() };
    this.#families.set(name, f);
    return f;
  }

  #series(f: Family, labels: Labels): Series {
    const cached = f.byObject.get(labels);
    if (cached !== undefined && f.series.get(cached.key) === cached) return cached;
    const key = seriesKey(labels);
    let s = f.series.get(key);
    if (!s) {
      s = { key, labels: { ...labels }, value: 0 };
      if (f.kind === "histogram") {
        s.counts = new Array(f.buckets!.length).fill(0);
        s.sum = 0;
      }
      f.series.set(key, s);
    }
    f.byObject.set(labels, s);
    return s;
  }
}
