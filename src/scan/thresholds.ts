/**
 * Every threshold of the anomaly scan, in one place, with why it has its value. The points of a heuristic that fires
 * add up to the snapshot's score; see docs/scan.md for the table.
 */
export const THRESHOLDS = {
  /** A snapshot is suspicious when its score reaches this. One strong signal does; weak signals alone cannot (weakCap). */
  suspiciousScore: 0.5,
  /**
   * Weak signals (change rate, renames, unseen extensions, scripts in web folders, folder deletions, one table
   * emptied) together count at most this much: a deploy, an `npm install` or a refactor fires several of them at once,
   * and ordinary life must not be flagged. They raise the score of a snapshot that also has a strong signal.
   */
  weakCap: 0.45,
  /** The baseline is the median of this many earlier non-suspicious snapshots (the newest ones: habits change). */
  baselineWindow: 30,
  /** Fewer files than this touched is never "mass" anything: small sources would otherwise flag on every edit. */
  minFiles: 20,

  changeRate: {
    /** Below 30% of the files touched, nothing is unusual whatever the baseline (a first baseline of 0% is common). */
    min: 0.3,
    /** "Far above the baseline": at least 4 times the usual rate (a source that churns 20% a day needs 80%). */
    factor: 4,
    /** weak: bursts of change are ordinary (a pull, a build); they corroborate. */
    points: 0.25,
  },

  heads: {
    /** Changed files whose first chunk is read per snapshot: bounds the scan at ~400 blob reads a snapshot. */
    sample: 200,
    /** How much of the first chunk is judged: ransomware that encrypts partially encrypts the head. */
    bytes: 4096,
    /** The head is judged in blocks of this size, so that one encrypted KiB among three of text still shows. */
    block: 1024,
    /** Heads shorter than this are skipped: the entropy of a few hundred bytes says little (max log2(n) bits). */
    minBytes: 512,
    /** The previous version "compressed well": zstd level 1 got the head to 80% or less (text, JSON, CSV: 20–50%). */
    compressibleRatio: 0.8,
    /** A block of random bytes measures ~7.8 bits/byte at 1 KiB (7.6 at 512 B); text 4–5.5, base64 6.0. */
    encryptedEntropy: 7.2,
    /** At least this many heads must have turned: one file encrypted on purpose (gpg) is ordinary. */
    minFiles: 3,
    /** Share of the sampled compressible heads that turned high-entropy, above the baseline share. */
    share: 0.25,
    strongShare: 0.5,
    points: 0.6,
    strongPoints: 0.8,
  },

  renames: {
    /** Files whose content reappears under another base name, as a share of the previous files (folder moves keep the base name and do not count). */
    share: 0.3,
    /** weak: bulk renames of photos or a refactor happen. */
    points: 0.25,
  },

  appendedExtension: {
    /** A deleted `a.txt` reappears as `a.txt.<ext>` (the ransomware signature) for this many files... */
    minFiles: 10,
    /** ...and this share of the previous files (or minFiles × 5 files whatever the share). */
    share: 0.1,
    points: 0.4,
  },

  ransomwareExtension: {
    /** New files with an extension of the curated list (indicators.ts). */
    minFiles: 5,
    points: 0.5,
  },

  unseenExtension: {
    /** An extension no earlier non-suspicious snapshot of the source had, on this many new files... */
    minFiles: 20,
    /** ...being this share of the new files. weak: installing a dependency brings .mjs, .map, .d.ts. */
    share: 0.2,
    points: 0.1,
  },

  /** Heuristic 3 (renames and extensions) counts at most this much. */
  renameCap: 0.6,

  deletions: {
    /** Files deleted from folders that still exist (hollowing out), as a share of the previous files, above min... */
    min: 0.3,
    strong: 0.5,
    /** ...and above factor × the baseline deletion rate. */
    factor: 4,
    points: 0.3,
    strongPoints: 0.6,
    /** weak: a whole folder removed with most of the files (rm -rf build/) is ordinary. */
    folderShare: 0.5,
    folderPoints: 0.25,
  },

  ransomNotes: {
    /** Any new file named like a ransom note is strong on its own: the names of indicators.ts are never used otherwise. */
    points: 0.5,
    /** Notes are dropped in every folder: several make it certain. */
    many: 3,
    manyPoints: 0.7,
  },

  scripts: {
    /** weak: new scripts or executables in config or web folders (a web shell), or an exec bit newly set there. */
    points: 0.2,
    execPoints: 0.3,
  },

  rows: {
    /** Databases with fewer rows than this are too small to judge (a test database). */
    minRows: 100,
    /** The total rows of the database fell by half or more since the previous backup: strong. */
    totalDrop: 0.5,
    totalPoints: 0.6,
    /**
     * A table of at least minRows lost 90% of its rows or vanished (a `DELETE FROM orders`). Strong: a table that is
     * emptied routinely (sessions, a queue) was emptied in an earlier ordinary snapshot too and is left out.
     */
    tableDrop: 0.9,
    tablePoints: 0.5,
    tablesPoints: 0.6,
  },

  activity: {
    /**
     * Rows updated or deleted between two backups (PostgreSQL's pg_stat_user_tables counters, docs/scan.md), as a share
     * of the rows at the previous backup. An attacker who encrypts a column in place (`UPDATE users SET email = ...`)
     * or deletes and re-inserts every row keeps the row counts: the counters still show it. Half the rows: a nightly
     * job touches a few percent, an attack all of them (a backfill migration touches all of them too: see Limits).
     */
    share: 0.5,
    /**
     * ...and this many times the source's usual churn (median of earlier non-suspicious snapshots): a database whose
     * jobs rewrite most rows every day (a cache, a queue) is not flagged for doing it again, and a nightly job touching
     * 5% a day needs 50%.
     */
    factor: 10,
    /** Fewer rows than this rewritten is never "mass" anything: a small database would flag on every busy day. */
    minRows: 1000,
    /** Strong, as "total rows fell by half": rewriting most rows of a database is what encryption in place does. */
    points: 0.6,
  },

  carried: {
    /**
     * Files an earlier suspicious snapshot encrypted, renamed or dropped (notes), still there unchanged: nothing was
     * restored, so this snapshot is no better a rollback target than that one. One is enough: each was evidence.
     */
    minFiles: 1,
    points: 0.6,
  },

  /** How many paths a figure lists (ransom notes, scripts): the counts are exact, the lists are examples. */
  listedPaths: 10,
} as const;
