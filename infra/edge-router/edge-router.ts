import { Hono } from 'hono';

/**
 * The edge router: a Cloudflare Worker in front of several runner hosts. It reads the
 * app name from the requested host and forwards the request to the ingress of the
 * runner that serves the app. fetch() may not set Host, so the app's host travels in
 * X-Forwarded-Host, which the ingress reads when Host is not an app host. Routes come from the ROUTES KV namespace (key: app
 * name, value: the runner's ingress origin such as `http://runner-1.internal:8080`),
 * with DEFAULT_ORIGIN for apps that have no entry.
 */
export interface EdgeEnv {
  /** The apps' parent domain, as SLIPWAY_DOMAIN on the runners. */
  APPS_DOMAIN: string;
  DEFAULT_ORIGIN?: string;
  ROUTES?: { get(key: string): Promise<string | null> };
}

export function createEdgeRouter(): Hono<{ Bindings: EdgeEnv }> {
  const app = new Hono<{ Bindings: EdgeEnv }>();

  app.all('*', async (c) => {
    // On Workers the request URL carries the host the client asked for.
    const host = new URL(c.req.url).hostname.toLowerCase();
    const suffix = `.${c.env.APPS_DOMAIN}`;
    const appName = host.endsWith(suffix) ? host.slice(0, -suffix.length) : '';
    if (!appName || appName.includes('.')) {
      return c.text(`No app at host ${JSON.stringify(host)}: apps are served at <app>${suffix}.\n`, 404);
    }

    const origin = (await c.env.ROUTES?.get(appName)) ?? c.env.DEFAULT_ORIGIN;
    if (!origin) return c.text(`No runner serves app ${appName}.\n`, 502);

    const incoming = new URL(c.req.url);
    const target = new URL(incoming.pathname + incoming.search, origin);
    const headers = new Headers(c.req.raw.headers);
    headers.set('x-forwarded-host', host);
    headers.set('x-forwarded-proto', incoming.protocol.replace(':', ''));
    return fetch(target, {
      method: c.req.method,
      headers,
      body: c.req.raw.body,
      redirect: 'manual',
      duplex: 'half',
    } as RequestInit);
  });

  return app;
}

export default createEdgeRouter();
