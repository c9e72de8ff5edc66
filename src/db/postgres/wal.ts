/**
 * PostgreSQL write-ahead log names and positions: segment file names (`TTTTTTTTXXXXXXXXYYYYYYYY`), LSNs (`X/Y`) and
 * the list of segments a base backup needs. Pure functions: the server is asked for names only where it must be.
 */

/** A WAL segment file name: timeline, then the segment number split in two 8-digit hex halves. */
export const SEGMENT_NAME = /^[0-9A-F]{24}$/;
/** What archive_command may be given besides segments: timeline history, backup history and partial segments. */
export const ARCHIVED_NAME = /^([0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$/;

/** An LSN `X/Y` as a number; throws on anything else. */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m) throw new Error(`${JSON.stringify(lsn)} is not a WAL position: write it as PostgreSQL does, e.g. 0/3000060`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(n: bigint): string {
  return `${(n >> 32n).toString(16).toUpperCase()}/${(n & 0xffffffffn).toString(16).toUpperCase()}`;
}

function hex8(n: bigint | number): string {
  return n.toString(16).toUpperCase().padStart(8, '0');
}

/** Segments per `X` of `X/Y` (4 GiB of WAL). */
function perXlog(segmentSize: number): bigint {
  return 0x100000000n / BigInt(segmentSize);
}

/** The segment number and timeline of a segment file name. */
export function parseSegment(name: string, segmentSize: number): { timeline: number; segno: bigint } {
  if (!SEGMENT_NAME.test(name)) throw new Error(`${JSON.stringify(name)} is not a WAL segment name`);
  const timeline = Number.parseInt(name.slice(0, 8), 16);
  const segno = BigInt(`0x${name.slice(8, 16)}`) * perXlog(segmentSize) + BigInt(`0x${name.slice(16)}`);
  return { timeline, segno };
}

export function segmentName(timeline: number, segno: bigint, segmentSize: number): string {
  const per = perXlog(segmentSize);
  return `${hex8(timeline)}${hex8(segno / per)}${hex8(segno % per)}`;
}

/** The segment file holding the byte at `lsn` on `timeline`. */
export function segmentOf(timeline: number, lsn: bigint, segmentSize: number): string {
  return segmentName(timeline, lsn / BigInt(segmentSize), segmentSize);
}

/** The segments from `first` to `last` inclusive (same timeline), in order. */
export function segmentRange(first: string, last: string, segmentSize: number): string[] {
  const a = parseSegment(first, segmentSize);
  const b = parseSegment(last, segmentSize);
  if (a.timeline !== b.timeline) throw new Error(`WAL segments ${first} and ${last} are on different timelines`);
  if (b.segno < a.segno) throw new Error(`WAL segment ${last} comes before ${first}`);
  const out: string[] = [];
  for (let s = a.segno; s <= b.segno; s++) out.push(segmentName(a.timeline, s, segmentSize));
  return out;
}

/** `16MB`, `1GB`, `16777216` (bytes): a wal_segment_size setting, in bytes. */
export function parseSegmentSize(setting: string): number {
  const m = /^(\d+)\s*(B|kB|MB|GB)?$/.exec(setting.trim());
  if (!m) throw new Error(`unexpected wal_segment_size ${JSON.stringify(setting)}`);
  const unit = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[(m[2] ?? 'B') as 'B'];
  const n = Number(m[1]) * unit;
  if (n < 1024 ** 2 || n > 1024 ** 3 || (n & (n - 1)) !== 0) throw new Error(`unexpected wal_segment_size ${JSON.stringify(setting)}`);
  return n;
}
