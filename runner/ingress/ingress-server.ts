import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../shared/logger.ts';
import type { Backend, RouteTable } from './route-table.ts';

/** Headers that describe one connection (RFC 9110, section 7.6.1) and are not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export interface IngressOptions {
  routes: RouteTable;
  domain: string;
  log: Logger;
  /** Whether an app exists, so that an unknown host gets 404 and a stopped app 503. */
  appExists(app: string): Promise<boolean>;
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
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 });
  const server = http.createServer((request, response) => {
    proxyRequest(options, agent, request, response).catch((error) => {
      options.log.error({ err: error }, 'proxying a request failed');
      if (!response.headersSent) sendText(response, 502, 'Bad gateway: the app did not answer.\n');
      else response.destroy();
    });
  });
  server.on('upgrade', (request, socket, head) => proxyUpgrade(options, request, socket, head));
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

  const backend = options.routes.pick(app);
  if (!backend) {
    if (!(await options.appExists(app))) return sendText(response, 404, `No app named ${app}.\n`);
    response.setHeader('Retry-After', '5');
    return sendText(response, 503, `App ${app} has no running container; deploy it or check "slipway status --app ${app}".\n`);
  }

  options.routes.begin(backend);
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

function proxyUpgrade(options: IngressOptions, request: IncomingMessage, socket: Duplex, head: Buffer): void {
  const app = appOfRequest(request, options.domain);
  const backend: Backend | undefined = app ? options.routes.pick(app) : undefined;
  if (!app || !backend) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
    return;
  }

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
