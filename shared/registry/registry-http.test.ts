import { describe, expect, it } from 'vitest';
import { isLoopbackHost, registryBaseUrl } from './registry-http.ts';

describe('registryBaseUrl', () => {
  it.each([
    ['docker.io', 'https://registry-1.docker.io/'],
    ['127.0.0.1:5000', 'http://127.0.0.1:5000/'],
    ['localhost:5000', 'http://localhost:5000/'],
    ['[::1]:5000', 'http://[::1]:5000/'],
    ['registry.example.com', 'https://registry.example.com/'],
    ['10.1.2.3:5000', 'https://10.1.2.3:5000/'],
  ])('maps %s to %s', (registry, expected) => {
    expect(registryBaseUrl(registry).href).toBe(expected);
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['localhost', true],
    ['[::1]', true],
    ['128.0.0.1', false],
    ['localhost.example.com', false],
  ])('treats %s as loopback: %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});
