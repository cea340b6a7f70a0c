import { describe, expect, it } from 'vitest';
import { RouteTable } from './route-table.ts';

function tableWith(...machineIds: string[]): RouteTable {
  const routes = new RouteTable();
  for (const machineId of machineIds) routes.add('web', { machineId, host: '10.0.0.1', port: 8080 });
  return routes;
}

describe('RouteTable', () => {
  it('picks the backend with the fewest requests in flight', () => {
    const routes = tableWith('m-1', 'm-2');
    routes.begin(routes.backendOf('web', 'm-1')!);
    expect(routes.pick('web')?.machineId).toBe('m-2');
  });

  it('counts an app as saturated only when every ready backend has reached the limit', () => {
    const routes = tableWith('m-1', 'm-2');
    routes.begin(routes.backendOf('web', 'm-1')!);
    expect(routes.isSaturated('web', 1)).toBe(false);
    routes.begin(routes.backendOf('web', 'm-2')!);
    expect(routes.isSaturated('web', 1)).toBe(true);
  });

  it('never counts an app without backends as saturated', () => {
    expect(new RouteTable().isSaturated('web', 1)).toBe(false);
  });

  it('records activity when a request begins and ends', () => {
    const routes = tableWith('m-1');
    const backend = routes.backendOf('web', 'm-1')!;
    backend.lastActiveAt = 0;
    routes.begin(backend);
    expect(backend.lastActiveAt).toBeGreaterThan(0);
  });

  it('counts open connections per app', () => {
    const routes = new RouteTable();
    routes.openConnection('web');
    routes.openConnection('web');
    routes.closeConnection('web');
    expect(routes.openConnections('web')).toBe(1);
    routes.closeConnection('web');
    expect(routes.openConnections('web')).toBe(0);
  });

  it('resolves a drain once the last request ends', async () => {
    const routes = tableWith('m-1');
    const backend = routes.backendOf('web', 'm-1')!;
    routes.begin(backend);
    const drained = routes.drain('web', 'm-1', 10_000);
    expect(routes.pick('web')).toBeUndefined();
    routes.end(backend);
    await drained;
    expect(routes.backendOf('web', 'm-1')).toBeUndefined();
  });
});
