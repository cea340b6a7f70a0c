import { describe, expect, it } from 'vitest';
import { parsePortSpec } from './ports-command.ts';

describe('parsePortSpec', () => {
  it.each([
    ['5432', { host: 5432, container: 5432 }],
    ['8443:443', { host: 8443, container: 443 }],
    ['8443:443/tcp', { host: 8443, container: 443 }],
  ])('reads %j', (spec, port) => {
    expect(parsePortSpec(spec)).toEqual(port);
  });

  it.each(['0', '70000', '53/udp', '127.0.0.1:80:80', 'http'])('rejects %j', (spec) => {
    expect(() => parsePortSpec(spec)).toThrow(/is not a port/);
  });
});
