/**
 * An in-memory {@linkcode MessageTransport}: a bus with NATS semantics
 * (subjects with `*` / `>` wildcards, queue groups, no-responders notices,
 * asynchronous in-order delivery, a payload limit). The in-process request
 * plane's strict mode runs the wire protocol over it, so in-process tests see
 * exactly what would cross a real wire.
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";
import { subjectMatches } from "../event_plane/event_plane.ts";
import type {
  MessageHandler,
  MessageTransport,
  TransportMessage,
  TransportSubscription,
} from "./message_transport.ts";

interface BusSubscription {
  pattern: string;
  queue?: string;
  handler: MessageHandler;
  owner: MemoryConnection;
}

/** The shared bus: one per "server". Connect handles to it with {@linkcode MemoryBus.connect}. */
export class MemoryBus {
  /** Largest body accepted, in bytes (NATS's default: 1 MiB). */
  readonly maxPayload: number;
  #subs = new Set<BusSubscription>();
  #queueTurn = new Map<string, number>();
  #inboxes = 0;

  /** Creates a bus; `maxPayload` defaults to 1 MiB as nats-server's. */
  constructor(options: { maxPayload?: number } = {}) {
    this.maxPayload = options.maxPayload ?? 1024 * 1024;
  }

  /** A new connection to this bus. */
  connect(): MemoryConnection {
    return new MemoryConnection(this);
  }

  /** @internal */
  add(sub: BusSubscription): void {
    this.#subs.add(sub);
  }

  /** @internal */
  remove(sub: BusSubscription): void {
    this.#subs.delete(sub);
  }

  /** @internal */
  nextInbox(): string {
    return `_INBOX.mem${++this.#inboxes}`;
  }

  /** @internal Delivers on a later task, as a network would; in order per bus. */
  deliver(subject: string, data: Uint8Array, reply: string | undefined): void {
    const plain: BusSubscription[] = [];
    const groups = new Map<string, BusSubscription[]>();
    for (const sub of this.#subs) {
      if (!subjectMatches(sub.pattern, subject)) continue;
      if (sub.queue === undefined) plain.push(sub);
      else {
        const key = `${sub.pattern} ${sub.queue}`;
        groups.set(key, [...(groups.get(key) ?? []), sub]);
      }
    }
    const targets = [...plain];
    for (const [key, members] of groups) {
      const turn = this.#queueTurn.get(key) ?? 0;
      this.#queueTurn.set(key, turn + 1);
      targets.push(members[turn % members.length]);
    }
    if (targets.length === 0) {
      if (reply !== undefined) {
        this.#send(reply, { subject: reply, data: new Uint8Array(), noResponders: true });
      }
      return;
    }
    for (const sub of targets) {
      // Each receiver gets its own copy: nothing is shared across the "wire".
      this.#deliverTo(sub, { subject, data: data.slice(), reply, noResponders: false });
    }
  }

  #send(subject: string, message: TransportMessage): void {
    for (const sub of this.#subs) {
      if (sub.queue === undefined && subjectMatches(sub.pattern, subject)) {
        this.#deliverTo(sub, message);
      }
    }
  }

  #deliverTo(sub: BusSubscription, message: TransportMessage): void {
    queueMicrotask(() => {
      if (this.#subs.has(sub) && !sub.owner.severed) sub.handler(message);
    });
  }
}

/** One connection to a {@linkcode MemoryBus}. */
export class MemoryConnection implements MessageTransport {
  #bus: MemoryBus;
  #mine = new Set<BusSubscription>();
  #listeners = new Set<() => void>();
  #severed = false;

  /** Use {@linkcode MemoryBus.connect}. */
  constructor(bus: MemoryBus) {
    this.#bus = bus;
  }

  /** Largest body accepted, in bytes. */
  get maxPayload(): number {
    return this.#bus.maxPayload;
  }

  /** True once severed or closed: nothing is sent or received any more. */
  get severed(): boolean {
    return this.#severed;
  }

  publish(subject: string, data: Uint8Array, reply?: string): void {
    if (this.#severed) return;
    if (data.byteLength > this.#bus.maxPayload) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot publish on "${subject}": ${data.byteLength} bytes exceed the bus's max payload ${this.#bus.maxPayload}`,
        { code: "payload_too_large" },
      );
    }
    this.#bus.deliver(subject, data, reply);
  }

  subscribe(subject: string, handler: MessageHandler, queue?: string): TransportSubscription {
    const sub: BusSubscription = { pattern: subject, queue, handler, owner: this };
    if (!this.#severed) {
      this.#mine.add(sub);
      this.#bus.add(sub);
    }
    return {
      unsubscribe: () => {
        this.#mine.delete(sub);
        this.#bus.remove(sub);
      },
    };
  }

  inbox(): string {
    return this.#bus.nextInbox();
  }

  flush(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, 0));
  }

  onDisconnect(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Cuts this connection off as a crashed process would: its subscriptions vanish and
   * what it publishes is lost, and NOBODY is told (peers notice by missed heartbeats).
   */
  sever(): void {
    this.#severed = true;
    for (const sub of this.#mine) this.#bus.remove(sub);
    this.#mine.clear();
  }

  /**
   * Simulates a lost server connection: disconnect listeners run (as on a NATS
   * disconnect), then the connection keeps working (as after a reconnect).
   */
  bounce(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  close(): Promise<void> {
    this.sever();
    this.#listeners.clear();
    return Promise.resolve();
  }
}
