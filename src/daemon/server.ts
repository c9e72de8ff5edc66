/**
 * The daemon's HTTP side (fastify): the dashboard, the JSON API and /metrics. Bound to 127.0.0.1 by default. Reading
 * needs no token on a loopback address (anywhere else it does); every action needs `Authorization: Bearer <token>`
 * from `daemon.token_file`. Nothing secret is ever served: no passwords, no credentials in target URLs.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { SourceStatus } from '../status/status.js';
import type { SnapshotWithId } from '../repo/snapshot.js';
import type { JournalEntryWithId } from '../journal/journal.js';
import type { JobSpec } from './jobs.js';
import type { JobState } from './state.js';

export interface DaemonView {
  readonly project: string;
  statuses(): Promise<SourceStatus[]>;
  snapshots(): Promise<SnapshotWithId[]>;
  journal(): Promise<JournalEntryWithId[]>;
  sources(): { name: string; type: string; repository: string; rpo_seconds: number | null; rto_seconds: number | null }[];
  jobs(): { job: JobSpec; next: Date | null; state: JobState | null; queued: boolean; running: boolean }[];
  /** Queues the source's job of this kind; the job id, or null when it is already queued or running. */
  act(source: string, action: 'backup' | 'check' | 'drill'): string | null | 'unknown';
  metrics(): Promise<{ contentType: string; body: string }>;
  dashboard(): Promise<string>;
}

export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  readonly token: string | null;
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

export async function startServer(view: DaemonView, o: ServerOptions): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify({ logger: false });
  const openReads = isLoopback(o.host);
  const authorized = (req: FastifyRequest): boolean => {
    if (!o.token) return false;
    const given = /^bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(o.token);
    return a.length === b.length && timingSafeEqual(a, b);
  };
  const deny = (reply: FastifyReply, why: string): FastifyReply => reply.code(401).header('www-authenticate', 'Bearer').send({ error: why });
  // a page on another site must not read the API through the browser (DNS rebinding): only loopback names as Host
  const loopbackHost = (host: string | undefined): boolean => host !== undefined && isLoopback(host.replace(/:\d+$/, ''));
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0];
    if (path === '/healthz') return;
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (read && openReads && loopbackHost(req.headers.host)) return;
    if (read && !authorized(req)) return deny(reply, openReads ? 'requests must name a loopback host (Host header), or carry Authorization: Bearer <token>' : 'the daemon listens beyond loopback: reading needs Authorization: Bearer <token> (daemon.token_file)');
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/api/status', async () => {
    const sources = await view.statuses();
    return { project: view.project, time: new Date().toISOString(), verdict: sources.some((s) => s.verdict === 'violated') ? 'violated' : sources.some((s) => s.verdict === 'at risk') ? 'at risk' : 'ok', sources };
  });
  app.get('/api/sources', async () => {
    const jobs = view.jobs();
    return view.sources().map((s) => ({ ...s, jobs: jobs.filter((j) => j.job.sources.includes(s.name)).map(jobView) }));
  });
  app.get('/api/jobs', async () => view.jobs().map(jobView));
  app.get<{ Querystring: { source?: string; limit?: string } }>('/api/snapshots', async (req) => {
    const limit = Math.max(1, Math.min(1000, Math.trunc(Number(req.query.limit ?? 200)) || 200));
    return (await view.snapshots())
      .filter((s) => req.query.source === undefined || s.source === req.query.source)
      .sort((a, b) => b.time.localeCompare(a.time))
      .slice(0, limit)
      .map((s) => ({ id: s.id, time: s.time, source: s.source, type: s.type, tags: s.tags, paths: s.paths, host: s.host, complete: s.complete, summary: s.summary }));
  });
  app.get<{ Querystring: { since?: string; source?: string } }>('/api/journal', async (req) => {
    const since = req.query.since ? Date.parse(req.query.since) : 0;
    return (await view.journal()).filter((e) => Date.parse(e.time) >= (Number.isNaN(since) ? 0 : since) && (req.query.source === undefined || e.source === req.query.source));
  });
  app.post<{ Params: { name: string; action: string } }>('/api/sources/:name/:action', async (req, reply) => {
    if (!o.token) return reply.code(403).send({ error: 'actions are disabled: set daemon.token_file in safepoint.yaml' });
    if (!authorized(req)) return deny(reply, 'actions need Authorization: Bearer <token> (daemon.token_file)');
    const action = req.params.action;
    if (action !== 'backup' && action !== 'check' && action !== 'drill') return reply.code(404).send({ error: `unknown action ${action}: backup, check or drill` });
    const job = view.act(req.params.name, action);
    if (job === 'unknown') return reply.code(404).send({ error: `no source named ${req.params.name}` });
    if (job === null) return reply.code(409).send({ error: `the ${action} of ${req.params.name} is already queued or running` });
    return reply.code(202).send({ queued: job });
  });
  app.get('/metrics', async (_req, reply) => {
    const m = await view.metrics();
    return reply.type(m.contentType).send(m.body);
  });
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:").send(await view.dashboard()));

  const url = await app.listen({ host: o.host.replace(/^\[|\]$/g, ''), port: o.port });
  return { app, url };
}

function jobView(j: ReturnType<DaemonView['jobs']>[number]): Record<string, unknown> {
  return { id: j.job.id, kind: j.job.kind, cron: j.job.cron, sources: j.job.sources, next: j.next?.toISOString() ?? null, queued: j.queued, running: j.running, ...(j.state ?? {}) };
}
