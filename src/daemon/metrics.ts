/**
 * Prometheus metrics (prom-client), names prefixed `safepoint_`, labelled by source (and job): what each job last
 * did, and where each source stands against its objectives — refreshed from the repositories at each scrape.
 */
import { Gauge, Registry } from 'prom-client';
import type { SourceStatus } from '../status/status.js';
import type { JobResult } from './runner.js';

export class Metrics {
  readonly registry = new Registry();
  readonly #lastSuccess: Gauge;
  readonly #lastExit: Gauge;
  readonly #duration: Gauge;
  readonly #bytesAdded: Gauge;
  readonly #exposure: Gauge;
  readonly #rpo: Gauge;
  readonly #drillRto: Gauge;
  readonly #rto: Gauge;
  readonly #violated: Gauge;
  readonly #verdict: Gauge;
  readonly #repoSize: Gauge;

  constructor() {
    const r = [this.registry];
    this.#lastSuccess = new Gauge({ name: 'safepoint_job_last_success_timestamp_seconds', help: 'When the job last succeeded (Unix time)', labelNames: ['source', 'job'], registers: r });
    this.#lastExit = new Gauge({ name: 'safepoint_job_last_exit_code', help: 'Exit code of the job\'s last run (0 ok, 3 incomplete, -1 killed)', labelNames: ['source', 'job'], registers: r });
    this.#duration = new Gauge({ name: 'safepoint_job_duration_seconds', help: 'Duration of the job\'s last run', labelNames: ['source', 'job'], registers: r });
    this.#bytesAdded = new Gauge({ name: 'safepoint_backup_bytes_added', help: 'Bytes the last backup added to the repository', labelNames: ['source'], registers: r });
    this.#exposure = new Gauge({ name: 'safepoint_rpo_exposure_seconds', help: 'Age of the newest protection (backup or archived log): what a failure now would lose', labelNames: ['source'], registers: r });
    this.#rpo = new Gauge({ name: 'safepoint_rpo_seconds', help: 'The recovery point objective', labelNames: ['source'], registers: r });
    this.#drillRto = new Gauge({ name: 'safepoint_drill_rto_seconds', help: 'Restore time measured by the last drill', labelNames: ['source'], registers: r });
    this.#rto = new Gauge({ name: 'safepoint_rto_seconds', help: 'The recovery time objective', labelNames: ['source'], registers: r });
    this.#violated = new Gauge({ name: 'safepoint_objective_violated', help: '1 when the source violates an objective', labelNames: ['source'], registers: r });
    this.#verdict = new Gauge({ name: 'safepoint_source_verdict', help: '1 for the source\'s current verdict (ok, at risk, violated)', labelNames: ['source', 'verdict'], registers: r });
    this.#repoSize = new Gauge({ name: 'safepoint_repository_size_bytes', help: 'Bytes stored in the repository\'s packs', labelNames: ['repository'], registers: r });
  }

  jobDone(r: JobResult): void {
    const sources = r.job.sources.length === 1 ? r.job.sources : [''];
    for (const source of sources) {
      const labels = { source, job: r.job.id };
      this.#lastExit.set(labels, r.exitCode ?? -1);
      this.#duration.set(labels, r.seconds);
      if (r.exitCode === 0 || r.exitCode === 3) this.#lastSuccess.set(labels, (r.started.getTime() + r.seconds * 1000) / 1000);
      if (r.job.kind === 'backup' && typeof r.summary?.data_added === 'number') this.#bytesAdded.set({ source }, r.summary.data_added);
    }
  }

  /** After a restart: each job's last success and result as the state file remembers them (a stale backup stays visible). */
  restore(job: { id: string; sources: readonly string[] }, s: { last_ok: string | null; last_exit: number | null; last_seconds: number | null }): void {
    for (const source of job.sources.length === 1 ? job.sources : ['']) {
      const labels = { source, job: job.id };
      if (s.last_ok) this.#lastSuccess.set(labels, Date.parse(s.last_ok) / 1000);
      if (s.last_exit !== null) this.#lastExit.set(labels, s.last_exit);
      if (s.last_seconds !== null) this.#duration.set(labels, s.last_seconds);
    }
  }

  statuses(list: readonly SourceStatus[]): void {
    for (const s of list) {
      const l = { source: s.source };
      if (s.exposure_seconds !== null) this.#exposure.set(l, s.exposure_seconds);
      if (s.rpo_seconds !== null) this.#rpo.set(l, s.rpo_seconds);
      if (s.rto_seconds !== null) this.#rto.set(l, s.rto_seconds);
      if (s.last_drill?.rto_seconds != null) this.#drillRto.set(l, s.last_drill.rto_seconds);
      this.#violated.set(l, s.verdict === 'violated' ? 1 : 0);
      for (const v of ['ok', 'at risk', 'violated']) this.#verdict.set({ source: s.source, verdict: v }, s.verdict === v ? 1 : 0);
    }
  }

  repositorySize(name: string, bytes: number): void {
    this.#repoSize.set({ repository: name }, bytes);
  }
}
