import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../shared/logger.ts';
import type { AcquireResult } from '../scaling/app-scaler.ts';
import type { Backend, RouteTable } from './route-table.ts';

/** Headers that describe one connection (RFC 9110, section 7.6.1) and are not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export interface IngressOptions {
  routes: RouteTable;
  domain: string;
  log: Logger;
  /**
   * Returns a ready backend for an app that has none, after starting a container (see
   * AppScaler.acquire); an unknown app gets 404 and an app that cannot start 503.
   */
  acquire(app: string): Promise<AcquireResult>;
  /** Called once a request is in flight, so that another container starts when all are busy. */
  noteRequest?(app: string): void;
}

export interface RunningIngress {
  port: number;
  close(): Promise<void>;
}

/**
 * Starts the public HTTP entry, which proxies `Host: <app>.<domain>` to one of the app's
 * ready containers. Connections to containers are kept alive and reused.
 */
export async function startIngress(options: IngressOptions, bindAddress: string, port: number): Promise<RunningIngress> {
  // TODO: under load the ingress shares its event loop with the API, the worker and PGlite,
  // and against an app with a short listen queue its bursts of upstream connects lose SYNs
  // (docs/benchmarks.md). An ingress process of its own, with a limit on concurrent
  // upstream connects per container, would address both.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 });
  const server = http.createServer((request, response) => {
    proxyRequest(options, agent, request, response).catch((error) => {
      options.log.error({ err: error }, 'proxying a request failed');
      if (!response.headersSent) sendText(response, 502, 'Bad gateway: the app did not answer.\n');
      else response.destroy();
    });
  });
  server.on('upgrade', (request, socket, head) => {
    proxyUpgrade(options, request, socket, head).catch((error) => {
      options.log.error({ err: error }, 'proxying an upgrade failed');
      socket.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bindAddress, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  options.log.info({ address: bindAddress, port: actualPort }, 'ingress listening');

  return {
    port: actualPort,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };
}

/** Returns the app name of a Host header, or null when the host is not under the domain. */
export function appFromHost(host: string | undefined, domain: string): string | null {
  if (!host) return null;
  const name = host.replace(/:\d+$/, '').toLowerCase().replace(/\.$/, '');
  const suffix = `.${domain}`;
  if (!name.endsWith(suffix)) return null;
  const label = name.slice(0, -suffix.length);
  return label && !label.includes('.') ? label : null;
}

/**
 * Returns the app a request is for: from Host, else from X-Forwarded-Host, which the edge
 * router sets because it cannot forward Host. Either header can only pick an app that is public
 * anyway, so neither needs to be trusted.
 */
function appOfRequest(request: IncomingMessage, domain: string): string | null {
  const forwarded = request.headers['x-forwarded-host'];
  return appFromHost(request.headers.host, domain) ?? appFromHost(Array.isArray(forwarded) ? forwarded[0] : forwarded, domain);
}

async function proxyRequest(options: IngressOptions, agent: http.Agent, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const app = appOfRequest(request, options.domain);
  if (!app) return sendText(response, 404, `No app at host ${JSON.stringify(request.headers.host ?? '')}: apps are served at <app>.${options.domain}.\n`);

  trackConnection(options.routes, request.socket, app);
  const backend = await backendFor(options, app);
  if (backend.kind === 'unknown-app') return sendText(response, 404, `No app named ${app}.\n`);
  if (backend.kind === 'unavailable') {
    response.setHeader('Retry-After', String(backend.retryAfterS));
    return sendText(response, 503, `${backend.message}\n`);
  }
  return forwardRequest(options, agent, app, backend.backend, request, response);
}

function forwardRequest(options: IngressOptions, agent: http.Agent, app: string, backend: Backend, request: IncomingMessage, response: ServerResponse): void {
  options.routes.begin(backend);
  options.noteRequest?.(app);
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    options.routes.end(backend);
  };
  response.once('close', end);

  const upstream = http.request({
    agent,
    host: backend.host,
    port: backend.port,
    method: request.method,
    path: request.url,
    headers: forwardedHeaders(request),
  });
  upstream.once('response', (upstreamResponse) => {
    response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.statusMessage, filterHeaders(upstreamResponse.headers));
    upstreamResponse.pipe(response);
    upstreamResponse.once('error', () => response.destroy());
  });
  upstream.once('error', (error) => {
    end();
    options.log.warn({ app, machineId: backend.machineId, err: error.message }, 'upstream request failed');
    if (!response.headersSent) sendText(response, 502, `Bad gateway: app ${app} did not answer (${error.message}).\n`);
    else response.destroy();
  });
  request.pipe(upstream);
}

/** Returns a ready backend at once when the app has one, else after the scaler has started a container. */
async function backendFor(options: IngressOptions, app: string): Promise<AcquireResult> {
  const ready = options.routes.pick(app);
  return ready ? { kind: 'ready', backend: ready } : options.acquire(app);
}

/**
 * Counts a client connection as open for an app from its first request for that app
 * until it closes, so that an app with open connections (an idle keep-alive connection
 * included) does not count as idle.
 */
const connectionApps = new WeakMap<object, Set<string>>();
function trackConnection(routes: RouteTable, socket: net.Socket, app: string): void {
  let tracked = connectionApps.get(socket);
  if (!tracked) {
    tracked = new Set();
    connectionApps.set(socket, tracked);
    const apps = tracked;
    socket.once('close', () => {
      for (const name of apps) routes.closeConnection(name);
    });
  }
  if (tracked.has(app)) return;
  tracked.add(app);
  routes.openConnection(app);
}

async function proxyUpgrade(options: IngressOptions, request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const app = appOfRequest(request, options.domain);
  const acquired = app ? await backendFor(options, app) : undefined;
  if (!app || acquired?.kind !== 'ready') {
    const status = acquired?.kind === 'unavailable' ? `503 Service Unavailable\r\nRetry-After: ${acquired.retryAfterS}` : '404 Not Found';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    return;
  }

  const backend = acquired.backend;
  options.routes.begin(backend);
  const upstream = net.connect(backend.port, backend.host, () => {
    const headers = { ...forwardedHeaders(request), connection: 'Upgrade', upgrade: request.headers.upgrade ?? '' };
    const lines = [`${request.method} ${request.url} HTTP/1.1`, ...Object.entries(headers).map(([name, value]) => `${name}: ${String(value)}`)];
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(socket);
    socket.pipe(upstream);
  });
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    options.routes.end(backend);
    upstream.destroy();
    socket.destroy();
  };
  upstream.once('error', end);
  upstream.once('close', end);
  socket.once('error', end);
  socket.once('close', end);
}

function forwardedHeaders(request: IncomingMessage): http.OutgoingHttpHeaders {
  const headers = filterHeaders(request.headers);
  const client = request.socket.remoteAddress ?? '';
  const prior = request.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = prior ? `${String(prior)}, ${client}` : client;
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-host'] = request.headers.host ?? '';
  return headers;
}

function filterHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const connectionTokens = String(headers.connection ?? '')
    .split(',')
    .map((token) => token.trim().toLowerCase());
  const result: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || connectionTokens.includes(name)) continue;
    result[name] = value;
  }
  return result;
}

function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
