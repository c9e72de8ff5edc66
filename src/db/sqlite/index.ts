/** SQLite databases as a source: online copies with SQLite's backup API, atomic checked restores, verification. */
export { sqliteDriver, SQLITE_STREAM } from './sqlite-driver.js';
export type { SqliteMeta } from './sqlite-tasks.js';
