/** Descriptions of one thing each (a source, a repository's password, a service, a status) in the document's language. */
import type { LoadedConfig } from '../config/load.js';
import type { RepositoryConfig } from '../config/schema.js';
import type { SourceConfig } from '../config/schema-sources.js';
import type { DatabaseSource } from '../db/drivers.js';
import { CHECK_MAX_AGE_SECONDS, DRILL_MAX_AGE_SECONDS, RPO_WARNING_SHARE, type SourceStatus } from '../status/status.js';
import { safe } from './commands.js';
import { databaseSchedule, duration, measuredSeconds, schedule, utc } from './format.js';
import { code } from './markdown.js';
import type { Words } from './words-en.js';

export function sourceKind(s: SourceConfig, w: Words): string {
  const details: string[] = [];
  if (s.type === 'postgres' || s.type === 'mariadb') details.push(w.kinds.modes[s.mode]);
  if (s.type === 'postgres' && s.wal_archiving) details.push(w.kinds.walArchiving);
  if (s.type === 'sqlite' && s.continuous) details.push(w.kinds.continuous);
  return `${w.kinds.types[s.type]}${details.length > 0 ? ` (${details.join(', ')})` : ''}`;
}

export function objective(ms: number | undefined, w: Words): string {
  return ms === undefined ? w.common.notSet : duration(ms, w);
}

export function passwordSource(r: RepositoryConfig, w: Words): string {
  if (r.password_file !== undefined) return w.before.passwordFile(code(r.password_file));
  if (r.password_command !== undefined) return w.before.passwordCommand;
  return w.before.passwordEnv;
}

export function what(s: SourceConfig, w: Words): string {
  switch (s.type) {
    case 'files': {
      const parts = [...(s.paths ?? []).map(code), ...(s.from_audit === undefined ? [] : [w.backedUp.fromAudit(code(s.from_audit))])];
      return `${parts.join(', ')}${s.exclude.length > 0 ? `${w.semicolon}${w.backedUp.excluded(s.exclude.map(code).join(', '))}` : ''}`;
    }
    case 'sqlite':
      return w.backedUp.sqliteFile(code(s.path));
    case 'postgres':
    case 'mariadb': {
      const c = s.connection;
      const at = c.host === undefined ? `${w.backedUp.localServer}:${c.port}` : `${c.host}:${c.port}`;
      const base = w.backedUp.database(code(c.database), code(safe(at)), c.user === undefined ? null : code(c.user));
      return s.data_directory === undefined ? base : `${base}${w.semicolon}${w.backedUp.dataDirectory(code(s.data_directory))}`;
    }
  }
}

export function howOften(s: SourceConfig, w: Words): string {
  const parts: string[] = [];
  if (s.type === 'files') parts.push(s.schedule === undefined ? w.backedUp.noSchedule : schedule(s.schedule, w));
  else parts.push(...(s.schedule === undefined ? [w.backedUp.noSchedule] : databaseSchedule(s.schedule, w)));
  if (s.type === 'postgres' && s.mode === 'physical' && s.wal_archiving) parts.push(w.backedUp.walArchiving);
  if (s.type === 'mariadb' && s.mode === 'physical') parts.push(w.backedUp.binlogs);
  if (s.type === 'sqlite' && s.continuous) parts.push(w.backedUp.replication);
  return parts.join('<br>');
}

export function retention(s: SourceConfig, w: Words): string {
  const r = s.retention;
  if (r === undefined) return w.backedUp.keepAll;
  const items = Object.entries(r).filter(([, v]) => v !== undefined).map(([k, v]) => code(`${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`));
  return items.length > 0 ? items.join(', ') : w.backedUp.keepAll;
}

export function targetKind(url: string, w: Words): string {
  if (/^s3:/i.test(url)) return w.repos.kinds.s3;
  if (/^sftp:/i.test(url)) return w.repos.kinds.sftp;
  return w.repos.kinds.local;
}

export function serviceLines(cfg: LoadedConfig, s: DatabaseSource, w: Words): string[] {
  return s.services.map((name) => {
    const svc = cfg.services[name];
    const parts = [
      svc?.stop === undefined ? null : `${w.databases.stop} ${code(safe(svc.stop))}`,
      svc?.start === undefined ? null : `${w.databases.start} ${code(safe(svc.start))}`,
      svc?.health === undefined ? null : `${w.databases.health} ${code('url' in svc.health ? `${safe(svc.health.url)} → ${svc.health.expect}` : safe(svc.health.command))}`,
    ].filter((x): x is string => x !== null);
    return `${code(name)}${parts.length > 0 ? `${w.colon}${parts.join(w.semicolon)}` : ''}`;
  });
}

export function checkLines(s: DatabaseSource, w: Words): string[] {
  return [
    w.databases.engineCheck[s.type],
    w.databases.rowCounts,
    ...s.checks.map((c) => ('sql' in c ? `${w.databases.sqlCheck} ${code(safe(c.sql))}` : `${w.databases.commandCheck} ${code(safe(c.command))}`)),
  ];
}

export function majorRule(rule: string, w: Words): string {
  if (rule === 'breaking') return w.tags.ruleBreaking;
  const m = /^(tag|merge):(.+)$/.exec(rule);
  if (m?.[1] === 'tag') return w.tags.ruleTag(code(m[2]!));
  if (m?.[1] === 'merge') return w.tags.ruleMerge(code(m[2]!));
  return code(rule);
}

/** What needs looking at in a source's status (the verdict's reasons, in words); `check` is the command that checks its repository. */
export function findings(st: SourceStatus, now: Date, w: Words, check: string): string[] {
  const out: string[] = [];
  const age = (t: string): number => Math.max(0, (now.getTime() - Date.parse(t)) / 1000);
  const m = w.measured;
  if (st.last_backup === null) out.push(m.neverBackedUp(code(`safepoint backup --source ${st.source}`)));
  else if (st.rpo_seconds !== null && st.exposure_seconds !== null && st.exposure_seconds > st.rpo_seconds) out.push(m.overRpo(duration(st.exposure_seconds * 1000, w), duration(st.rpo_seconds * 1000, w)));
  else if (st.rpo_seconds !== null && st.exposure_seconds !== null && st.exposure_seconds > st.rpo_seconds * RPO_WARNING_SHARE) out.push(m.nearRpo(w.percent(Math.round((st.exposure_seconds / st.rpo_seconds) * 100))));
  const dr = st.last_drill;
  if (dr && !dr.ok) out.push(m.drillFailed(utc(dr.time), dr.error === null ? null : code(safe(dr.error))));
  else if (dr && st.rto_seconds !== null && dr.rto_seconds !== null && dr.rto_seconds > st.rto_seconds) out.push(m.overRto(measuredSeconds(dr.rto_seconds, w), duration(st.rto_seconds * 1000, w)));
  else if (!dr && st.last_backup) out.push(m.neverDrilled(code(`safepoint drill --source ${st.source}`)));
  else if (dr && age(dr.time) > DRILL_MAX_AGE_SECONDS) out.push(m.drillOld(duration(age(dr.time) * 1000, w)));
  const ch = st.last_check;
  if (ch && !ch.ok) out.push(m.checkFailed(utc(ch.time)));
  else if (!ch && st.last_backup) out.push(m.neverChecked(code(check)));
  else if (ch && age(ch.time) > CHECK_MAX_AGE_SECONDS) out.push(m.checkOld(duration(age(ch.time) * 1000, w)));
  return out;
}

/** A snapshot's type (`full`, `differential`, `incremental`) in the document's language. */
export function backupType(type: string, w: Words): string {
  const key = ({ full: 'full', differential: 'diff', incremental: 'incr' } as const)[type as 'full' | 'differential' | 'incremental'];
  return key === undefined ? type : w.backupTypes[key];
}
