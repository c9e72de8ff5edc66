/** Messages between the archiver (main thread) and its ingest workers. */

export interface WorkerSetup {
  readonly macKey: Uint8Array;
  readonly encKey: Uint8Array;
  readonly gear: Uint32Array;
  readonly chunker: { minSize: number; avgSize: number; maxSize: number };
  readonly compression: 'off' | 'auto' | 'max';
  /** Bytes a worker may hold (read but not yet stored or dropped). */
  readonly budget: number;
}

export interface FileJob {
  readonly job: number;
  readonly path: string;
  /** Size at lstat time: small files are read in one read of that size. */
  readonly size: number;
}

export type ToWorker =
  | { readonly t: 'files'; readonly jobs: readonly FileJob[] }
  /** Which queried chunks to store; the others are dropped. */
  | { readonly t: 'verdict'; readonly store: readonly number[]; readonly drop: readonly number[] }
  /**
   * Blobs the main thread has taken into a pack: their bytes leave the worker's budget, and the buffers of the boxes
   * (RECYCLE_MIN or larger, box-pool.ts) come back, transferred, for later boxes.
   */
  | { readonly t: 'ack'; readonly bytes: number; readonly boxes: readonly ArrayBuffer[] };

export type FromWorker =
  | { readonly t: 'query'; readonly items: readonly { readonly seq: number; readonly id: string }[] }
  /** Boxes, transferred: each is the first `length` bytes of its buffer. */
  | { readonly t: 'blobs'; readonly items: readonly BoxItem[] }
  | { readonly t: 'done'; readonly job: number; readonly ids: readonly string[]; readonly size: number; readonly error?: { readonly code?: string; readonly message: string } };

export interface BoxItem {
  readonly id: string;
  readonly box: ArrayBuffer;
  readonly length: number;
  readonly rawLength: number;
  readonly compressed: boolean;
}
