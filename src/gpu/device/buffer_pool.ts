/**
 * A pool of GPU buffers keyed by usage and a power-of-two size class, so transient buffers
 * (uniforms of eager ops, staging for readback) are reused instead of created per call.
 *
 * @example
 * ```ts ignore
 * const pool = new BufferPool(device);
 * const buf = pool.acquire(1000, GPUBufferUsage.STORAGE);
 * pool.release(buf);
 * pool.destroy();
 * ```
 *
 * @module
 */

/** Reuses GPU buffers; every buffer it ever created is destroyed by {@link BufferPool.destroy}. */
export class BufferPool {
  #device: GPUDevice;
  #free = new Map<string, GPUBuffer[]>();
  #all = new Set<GPUBuffer>();
  #created = 0;
  #reused = 0;

  /** Creates an empty pool on `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** A buffer of at least `size` bytes (rounded up to a power of two, min 256) with `usage`. */
  acquire(size: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer {
    const bytes = sizeClass(size);
    const list = this.#free.get(`${usage}:${bytes}`);
    const reused = list?.pop();
    if (reused) {
      this.#reused++;
      return reused;
    }
    this.#created++;
    const buffer = this.#device.createBuffer({ size: bytes, usage, label });
    this.#all.add(buffer);
    return buffer;
  }

  /** Returns `buffer` to the pool. It MUST have come from {@link BufferPool.acquire}. */
  release(buffer: GPUBuffer): void {
    if (!this.#all.has(buffer)) {
      throw new RangeError("Cannot release a buffer this pool did not create");
    }
    const key = `${buffer.usage}:${buffer.size}`;
    const list = this.#free.get(key) ?? [];
    list.push(buffer);
    this.#free.set(key, list);
  }

  /** Buffers created and acquisitions served from the pool. */
  get stats(): { created: number; reused: number; live: number } {
    return { created: this.#created, reused: this.#reused, live: this.#all.size };
  }

  /** Destroys every buffer the pool created. */
  destroy(): void {
    for (const buffer of this.#all) buffer.destroy();
    this.#all.clear();
    this.#free.clear();
  }
}

function sizeClass(size: number): number {
  let bytes = 256;
  while (bytes < size) bytes *= 2;
  return bytes;
}
