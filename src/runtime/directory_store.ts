/**
 * The file-system operations the `file` discovery backend needs, behind one small
 * interface (node:fs works on Deno, Bun and Node; keeping it here keeps `src/discovery`
 * free of runtime specifics and lets tests inject faults).
 *
 * @module
 */
import { watch as fsWatch } from "node:fs";
import {
  link,
  mkdir,
  readdir,
  readFile,
  rename,
  stat,
  unlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One file of a directory: its name, text and modification time. */
export interface StoredFile {
  name: string;
  text: string;
  /** Modification time, milliseconds since the epoch. */
  mtimeMs: number;
}

/** A flat directory of small files, with atomic writes and change notification. */
export interface DirectoryStore {
  /** The directory's path. */
  readonly dir: string;
  /** Creates the directory (and parents) when missing. */
  ensure(): Promise<void>;
  /** Every file whose name passes `accept`, read with its mtime; files vanishing meanwhile are skipped. */
  readAll(accept: (name: string) => boolean): Promise<StoredFile[]>;
  /** Reads one file, or `undefined` when absent. */
  read(name: string): Promise<StoredFile | undefined>;
  /**
   * Writes `text` to a temp file, then links it to `name` only when `name` does not exist.
   * @returns false when `name` exists (nothing changed).
   */
  create(name: string, text: string): Promise<boolean>;
  /** Writes `text` to a temp file, then renames it over `name` (atomic replace). */
  replace(name: string, text: string): Promise<void>;
  /** Sets `name`'s modification time to now; false when it no longer exists. */
  touch(name: string): Promise<boolean>;
  /** Deletes `name`; a missing file is fine. */
  remove(name: string): Promise<void>;
  /** Calls `onChange` on every change in the directory; returns the function that stops it. */
  watch(onChange: () => void): () => void;
}

/** The default `DYN_FILE_KV` directory: `sluice-file-kv` under the system temp dir. */
export function defaultFileKvDir(): string {
  return join(tmpdir(), "sluice-file-kv");
}

/** Temp files start with `%tmp-`, which no percent-encoded key can (`%` is always followed by hex). */
export const TEMP_PREFIX = "%tmp-";

const isMissing = (error: unknown) => (error as { code?: string })?.code === "ENOENT";

/** A {@linkcode DirectoryStore} on the local file system. */
export function localDirectoryStore(dir: string): DirectoryStore {
  const tempName = () => join(dir, `${TEMP_PREFIX}${crypto.randomUUID()}`);
  const read = async (name: string): Promise<StoredFile | undefined> => {
    try {
      const path = join(dir, name);
      const [text, info] = await Promise.all([readFile(path, "utf8"), stat(path)]);
      return { name, text, mtimeMs: info.mtimeMs };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  };
  return {
    dir,
    ensure: async () => void await mkdir(dir, { recursive: true }),
    async readAll(accept) {
      const names = (await readdir(dir)).filter((n) => !n.startsWith(TEMP_PREFIX) && accept(n));
      const files = await Promise.all(names.map(read));
      return files.filter((f): f is StoredFile => f !== undefined);
    },
    read,
    async create(name, text) {
      const temp = tempName();
      await writeFile(temp, text);
      try {
        await link(temp, join(dir, name));
        return true;
      } catch (error) {
        if ((error as { code?: string })?.code === "EEXIST") return false;
        throw error;
      } finally {
        await unlink(temp).catch(() => {});
      }
    },
    async replace(name, text) {
      const temp = tempName();
      await writeFile(temp, text);
      try {
        await rename(temp, join(dir, name));
      } catch (error) {
        await unlink(temp).catch(() => {});
        throw error;
      }
    },
    async touch(name) {
      const now = new Date();
      try {
        await utimes(join(dir, name), now, now);
        return true;
      } catch (error) {
        if (isMissing(error)) return false;
        throw error;
      }
    },
    async remove(name) {
      await unlink(join(dir, name)).catch((error) => {
        if (!isMissing(error)) throw error;
      });
    },
    watch(onChange) {
      try {
        const watcher = fsWatch(dir, { persistent: false }, () => onChange());
        watcher.on("error", () => {}); // the periodic rescan covers a broken watcher
        return () => watcher.close();
      } catch {
        return () => {}; // no watcher on this file system: the periodic rescan alone
      }
    },
  };
}
