import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEdgeRouter, type EdgeEnv } from './edge-router.ts';

let origin: http.Server;
let originUrl: string;

beforeAll(async () => {
  origin = http.createServer((request, response) => {
    response.end(JSON.stringify({ host: request.headers['x-forwarded-host'], url: request.url, method: request.method }));
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => origin.close(resolve));
});

function routes(entries: Record<string, string>): EdgeEnv['ROUTES'] {
  return { get: async (key) => entries[key] ?? null };
}

describe('edge router', () => {
  it('forwards to the origin of the app with its host', async () => {
    const env: EdgeEnv = { APPS_DOMAIN: 'apps.test', ROUTES: routes({ hello: originUrl }) };
    const response = await createEdgeRouter().request('http://hello.apps.test/contact?x=1', {}, env);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ host: 'hello.apps.test', url: '/contact?x=1', method: 'GET' });
  });

  it('uses the default origin for an app without a route', async () => {
    const env: EdgeEnv = { APPS_DOMAIN: 'apps.test', DEFAULT_ORIGIN: originUrl };
    const response = await createEdgeRouter().request('http://other.apps.test/', {}, env);
    expect((await response.json()).host).toBe('other.apps.test');
  });

  it('answers 404 for a host outside the apps domain', async () => {
    const env: EdgeEnv = { APPS_DOMAIN: 'apps.test', DEFAULT_ORIGIN: originUrl };
    const response = await createEdgeRouter().request('http://example.test/', {}, env);
    expect(response.status).toBe(404);
  });

  it('answers 502 when no runner serves the app', async () => {
    const env: EdgeEnv = { APPS_DOMAIN: 'apps.test', ROUTES: routes({}) };
    const response = await createEdgeRouter().request('http://lost.apps.test/', {}, env);
    expect(response.status).toBe(502);
  });
});
